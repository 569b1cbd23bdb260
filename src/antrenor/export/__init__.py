"""`antrenor export`: a tuned model as a deployable folder (merged weights, ONNX, int8, GGUF, model card).

`antrenor.export(config)` is the stage's function, and `antrenor.export` is also this package: once any
`antrenor.export.*` module is imported, Python binds the package over the function on `antrenor`. The package is
therefore callable too, with the function's meaning, so `antrenor.export(config)` and `from antrenor import
export` work whatever was imported first.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallableStage(types.ModuleType):
    def __call__(self, config: Any, reporter: Any = None) -> Any:
        """Run the export stage; see antrenor.export.config.ExportConfig."""
        from antrenor.export.run import export as run_export

        return run_export(config, reporter)


sys.modules[__name__].__class__ = _CallableStage
