"""antrenor: turn a pretrained model into a specialist, end to end.

Each stage is a function and a CLI verb, driven by one typed config:

    >>> import antrenor
    >>> result = antrenor.prepare({"input": ["data/demo/legal-classification"], "output": "runs/prep"})
"""

from __future__ import annotations

from typing import Any

from antrenor.moved_modules import install as _keep_old_import_paths

_keep_old_import_paths()  # modules that moved in the one-way layout still import from their old paths

__version__ = "0.1.0"
__all__ = ["prepare", "train", "tune", "evaluate", "export", "monitor", "__version__"]


def prepare(config: Any, reporter: Any = None):
    """Run the prepare stage; see antrenor.data.config.PrepareConfig (imported lazily: fast CLI start)."""
    from antrenor.data.prepare import prepare as run_prepare

    return run_prepare(config, reporter)


def train(config: Any, reporter: Any = None):
    """Run the train stage; see antrenor.training.config.TrainConfig."""
    from antrenor.training.run import train as run_train

    return run_train(config, reporter)


def tune(pipeline: Any, reporter: Any = None, **options: Any):
    """Search the train hyperparameters of a pipeline YAML with optuna; see antrenor.tuning.config.TuneConfig."""
    from antrenor.tuning.run import tune as run_tune

    return run_tune(pipeline, reporter, **options)


def evaluate(config: Any, reporter: Any = None):
    """Run the eval stage (cross-validation with `cv`; raw OOD files prepared first); see
    antrenor.evaluation.config.EvalConfig."""
    from antrenor.pipeline.evaluate import evaluate as run_evaluate

    return run_evaluate(config, reporter)


def monitor(config: Any, reporter: Any = None):
    """Run the drift monitor once, retraining on drift when its config asks; see antrenor.monitoring.config.MonitorConfig
    (result.exit_code: 0, 3 drift, 4 retrained)."""
    from antrenor.pipeline.retrain import monitor_and_retrain

    return monitor_and_retrain(config, reporter)


def export(config: Any, reporter: Any = None):
    """Run the export stage; see antrenor.export.config.ExportConfig."""
    from antrenor.export.run import export as run_export

    return run_export(config, reporter)
