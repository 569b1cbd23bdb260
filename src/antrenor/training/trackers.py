"""The lifetime of a training's W&B and MLflow runs: one run per training, closed when everything is logged.

transformers' callbacks log to both, but leave the W&B run open, and MLflow's callback ends its run at the
end of training, before antrenor's final evaluation: that evaluation's metrics then opened a second MLflow run
(seen in tests/unit/test_trackers.py). Here the MLflow run is opened before training, so the callback uses it
and leaves it open; both runs are closed after the final evaluation, marked failed if training raised.
Offline modes are the trackers' own: `WANDB_MODE=offline` (sync later with `wandb sync`), and an MLflow
tracking URI on local disk (`MLFLOW_TRACKING_URI=sqlite:///mlflow.db`).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

from antrenor.training.config import TrainConfig


@contextmanager
def tracker_runs(cfg: TrainConfig, run_name: str) -> Iterator[None]:
    main_process = int(os.environ.get("RANK", "0")) == 0  # the Trainer logs from the main process only
    mlflow = _start_mlflow(run_name) if "mlflow" in cfg.report_to and main_process else None
    failed = True
    try:
        yield
        failed = False
    finally:
        if "wandb" in cfg.report_to:
            import wandb

            if wandb.run is not None:
                wandb.finish(exit_code=1 if failed else 0)
        if mlflow is not None and mlflow.active_run() is not None:
            mlflow.end_run(status="FAILED" if failed else "FINISHED")


def _start_mlflow(run_name: str):
    import mlflow

    if mlflow.active_run() is not None:  # the caller's own run: the Trainer logs into it, the caller ends it
        return None
    mlflow.start_run(run_name=run_name)  # experiment from MLFLOW_EXPERIMENT_NAME, as the Trainer's callback reads it
    return mlflow
