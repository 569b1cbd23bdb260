"""Old import paths of modules that moved when the stages got their one-way layout (README: "How the code is
laid out"): `import antrenor.serve.monitor` still works, with a DeprecationWarning naming the new home.

Each old path maps to the modules that now hold its names, searched in order.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types
import warnings
from typing import Any

MOVED = {
    "antrenor.data.kinds": ["antrenor.records.kinds"],
    "antrenor.data.normalize": ["antrenor.records.normalize"],
    "antrenor.data.writing": ["antrenor.reporting.files"],
    "antrenor.data.steps": ["antrenor.data.prepare_run"],
    "antrenor.evaluation.examples": ["antrenor.records.splits"],
    "antrenor.evaluation.stats": ["antrenor.reporting.stats"],
    "antrenor.evaluation.scoring": ["antrenor.models.scoring"],
    "antrenor.evaluation.preference_eval": ["antrenor.models.pair_scoring"],
    "antrenor.evaluation.generate": ["antrenor.models.generation", "antrenor.models.chat"],
    "antrenor.evaluation.loading": ["antrenor.models.loading", "antrenor.evaluation.model_choice"],
    "antrenor.evaluation.cross_validation": ["antrenor.pipeline.cross_validation"],
    "antrenor.export.onnx_runtime": ["antrenor.models.onnx_runtime"],
    "antrenor.serve.version": ["antrenor.models.version"],
    "antrenor.serve.store": ["antrenor.records.request_log"],
    "antrenor.serve.monitor": ["antrenor.monitoring.run", "antrenor.monitoring.config"],
    "antrenor.serve.drift": ["antrenor.monitoring.drift"],
    "antrenor.serve.drift_report": ["antrenor.monitoring.report"],
    "antrenor.serve.reference": ["antrenor.monitoring.reference"],
    "antrenor.serve.retrain": ["antrenor.pipeline.retrain", "antrenor.monitoring.labelling"],
    "antrenor.training.quantize": ["antrenor.training.qlora"],
}


class _MovedModuleLoader(importlib.abc.Loader):
    def __init__(self, old: str, new: list[str]):
        self.old, self.new = old, new

    def create_module(self, spec: Any) -> types.ModuleType:
        warnings.warn(f"{self.old} moved to {' and '.join(self.new)}; import it from there", DeprecationWarning,
                      stacklevel=2)
        homes = [importlib.import_module(name) for name in self.new]
        module = types.ModuleType(self.old, f"Moved to {', '.join(self.new)}.")

        def find(name: str) -> Any:
            for home in homes:
                if hasattr(home, name):
                    return getattr(home, name)
            raise AttributeError(f"module {self.old!r} (moved to {', '.join(self.new)}) has no attribute {name!r}")

        module.__getattr__ = find  # PEP 562: every name is looked up in the new homes
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        return None


class _MovedModuleFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, _MovedModuleLoader(fullname, MOVED[fullname]))


def install() -> None:
    """Let the old paths import (once per interpreter)."""
    if not any(isinstance(finder, _MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(_MovedModuleFinder())
