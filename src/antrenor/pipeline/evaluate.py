"""`antrenor eval` as users call it: the eval stage, plus the two things it needs other stages for.

- `cv: K` trains a model per fold (pipeline/cross_validation.py) instead of evaluating given models;
- an OOD set given as a raw file is prepared first, with the prepare stage, into OUTPUT/ood-data.

    >>> import antrenor
    >>> antrenor.evaluate({"models": ["runs/cls/model"], "data": "runs/cls/data", "output": "runs/cls/eval",
    ...                    "ood": "other-domain.jsonl"})
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from antrenor.config import as_config
from antrenor.console import Reporter
from antrenor.data.prepare import prepare
from antrenor.evaluation.config import EvalConfig
from antrenor.evaluation.run import EvalResult
from antrenor.evaluation.run import evaluate as evaluate_stage


def evaluate(config: EvalConfig | dict[str, Any] | str | Path, reporter: Reporter | None = None) -> EvalResult:
    """Cross-validation when `cv` is set, else the eval stage with raw OOD files prepared on the way."""
    cfg = as_config(EvalConfig, config)
    reporter = reporter or Reporter("quiet")
    if cfg.cv:
        from antrenor.evaluation.run import check_before_work
        from antrenor.pipeline.cross_validation import cross_validate

        check_before_work(cfg)
        return cross_validate(cfg, reporter)
    return evaluate_stage(cfg, reporter, prepare_ood=prepare_ood)


def prepare_ood(source: Path, target: Path) -> Path:
    """A raw OOD file as a prepared folder: every record in `test`, exact duplicates removed, normalized as usual."""
    prepare({"input": [str(source)], "output": str(target), "split": {"validation": 0, "test": 0},
             "dedup": {"near": False}}, Reporter("quiet"))
    return target
