"""`antrenor train --dry-run`: the chat-template check, without loading the model.

Loads the prepared data and the tokenizer, resolves the defaults as a real run would, and renders a few records
the way SFT or preference training will (models/template_check.py): two examples with the trained spans marked,
the end-of-turn tokens generation stops on, and every problem that would make the run refuse to start.

    >>> report = dry_run({"data": "runs/demo/data", "model": "smollm2-135m-instruct", "task": "sft",
    ...                   "output": "runs/demo/model"})
    >>> print(report.examples[0])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from antrenor.config import as_config
from antrenor.console import Reporter
from antrenor.errors import ConfigError
from antrenor.models.registry import load_tokenizer
from antrenor.models.template_check import TemplateReport, check_chat_template
from antrenor.training.config import TrainConfig
from antrenor.training.data import load_prepared
from antrenor.training.defaults import apply_defaults

CHECKED_TASKS = ("sft", "preference")


def dry_run(config: TrainConfig | dict[str, Any] | str | Path, reporter: Reporter | None = None) -> TemplateReport:
    """The template report of the run `config` describes; a ConfigError lists its problems (nothing is written)."""
    from antrenor.training.run import check_before_work
    from antrenor.training.sft import (
        ensure_chat_template_and_say_so,
        use_chat_template_kwargs,
    )

    cfg = as_config(TrainConfig, config)
    reporter = reporter or Reporter("quiet")
    if cfg.task not in CHECKED_TASKS:
        raise ConfigError(f"--dry-run checks the chat template of tasks {' and '.join(CHECKED_TASKS)}; "
                          f"task {cfg.task} trains no chat answers")
    check_before_work(cfg)
    data = load_prepared(cfg.data)
    cfg = apply_defaults(cfg, data, reporter)
    tokenizer = load_tokenizer(cfg.model, trust_remote_code=cfg.trust_remote_code)
    use_chat_template_kwargs(tokenizer, cfg.chat_template_kwargs, reporter)  # as training renders
    ensure_chat_template_and_say_so(tokenizer, reporter)
    report = check_chat_template(data.train, data.kind, tokenizer, cfg.max_length)
    for warning in report.warnings:
        reporter.warn(warning)
    return report
