"""`antrenor run`: the stages from one YAML, cached by content hash (see run.py)."""

from antrenor.pipeline.config import Pipeline, RunConfig, load_pipeline
from antrenor.pipeline.run import RunResult, StageOutcome, run_pipeline

__all__ = ["Pipeline", "RunConfig", "RunResult", "StageOutcome", "load_pipeline", "run_pipeline"]
