"""Everything a search needs, checked at once before any model loads: `plan_search(pipeline)`."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from antrenor.config import format_validation_errors
from antrenor.errors import ConfigError
from antrenor.tuning.config import ParamRange, TuneConfig, default_direction, default_space
from antrenor.tuning.pipeline_yaml import PipelineYaml, read_pipeline
from antrenor.tuning.space import apply_values, check_space, check_space_keys

INSTALL_HINT = "hyperparameter search needs optuna: pip install 'antrenor[tune]'"
LANGUAGE_MODEL_METRICS = ("eval_loss", "eval_perplexity")
# What classify.compute_metrics reports for each kind of classification problem, besides eval_loss.
CLASSIFICATION_METRICS = {
    "single_label_classification": ("eval_loss", "eval_accuracy", "eval_macro_f1"),
    "multi_label_classification": ("eval_loss", "eval_micro_f1", "eval_exact_match"),
    "regression": ("eval_loss", "eval_mse", "eval_pearson"),
}


@dataclass
class SearchPlan:
    pipeline: PipelineYaml
    tune: TuneConfig
    train: dict[str, Any]  # the train section as written: trials replace values in it
    space: dict[str, ParamRange]
    metric: str
    direction: str
    output: Path
    doubts: list[str]

    def trial_config(self, values: dict[str, Any], number: int) -> dict[str, Any]:
        return apply_values(self.train, {**values, "output": str(self.output / f"trial-{number}"), "resume": False})

    @property
    def source(self) -> str:
        return str(self.pipeline.path) if self.pipeline.path else "(a mapping given to antrenor.tune)"


def plan_search(source: str | Path | dict[str, Any], overrides: dict[str, Any] | None = None) -> SearchPlan:
    """Read and check the pipeline's train and tune sections; raise ConfigError listing every problem."""
    from antrenor.training.config import TrainConfig

    pipeline, problems = read_pipeline(source)
    if pipeline is None:
        raise ConfigError("cannot read the pipeline:", problems=problems)
    train_raw, tune_raw = pipeline.sections.get("train"), pipeline.sections.get("tune") or {}
    if not isinstance(train_raw, dict):
        problems.append("the pipeline has no train section (a mapping): tune searches its values")
    if not isinstance(tune_raw, dict):
        problems.append("tune: expected a mapping of tune keys")
        tune_raw = {}
    tune_cfg = _validated(TuneConfig, {**tune_raw, **{k: v for k, v in (overrides or {}).items() if v is not None}},
                          "tune", problems)
    train_cfg = _validated(TrainConfig, train_raw, "train", problems) if isinstance(train_raw, dict) else None
    if importlib.util.find_spec("optuna") is None:
        problems.append(INSTALL_HINT)
    if train_cfg is not None:
        output = Path((tune_cfg.output if tune_cfg else None) or f"{train_cfg.output}-tune")
        problems += _data_problems(train_cfg, output)
    if tune_cfg is None and isinstance(tune_raw.get("space"), dict):
        problems += check_space_keys(list(tune_raw["space"]))  # bad names, even when some range is malformed
    if tune_cfg is None or train_cfg is None:
        raise ConfigError("the tune configuration has problems:", problems=problems)

    space = tune_cfg.space or default_space(train_raw)
    space_problems, doubts = check_space(space, train_raw)
    problems += space_problems
    problem_type = _problem_type(train_cfg)
    metric = tune_cfg.metric or _default_metric(train_cfg, problem_type)
    known = _known_metrics(train_cfg.task, problem_type)
    if known and metric not in known:
        problems.append(f"tune: metric {metric} is not reported for task {train_cfg.task}: use one of {', '.join(known)}")
    direction = default_direction(metric) if tune_cfg.direction == "auto" else tune_cfg.direction
    if direction != default_direction(metric):
        doubts.append(f"direction {tune_cfg.direction} for {metric}: usually {default_direction(metric)}")
    if problems:
        raise ConfigError("the tune configuration has problems:", problems=problems)
    return SearchPlan(pipeline, tune_cfg, train_raw, space, metric, direction, output, doubts)


def _validated(cls: type, data: dict[str, Any], section: str, problems: list[str]) -> Any:
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        problems += [f"{section}: {message}" for message in format_validation_errors(exc, cls)]
        return None


def _data_problems(train_cfg: Any, output: Path) -> list[str]:
    """The checks train itself makes (data folder, model name, extras), and a validation split to score on."""
    from antrenor.training.run import check_before_work

    try:
        # resume=True: trial folders of a resumed search may hold checkpoints; tune itself clears a stale one
        check_before_work(train_cfg.model_copy(update={"output": str(output / "trial-0"), "resume": True}))
    except ConfigError as error:
        return [f"train: {problem}" for problem in error.problems]
    validation = Path(train_cfg.data) / "validation.jsonl"
    if not validation.is_file() or not validation.read_text(encoding="utf-8").strip():
        return [f"train: data {train_cfg.data} has no validation split, and tune scores every trial on it: set "
                "prepare's split.validation (e.g. 0.1) and run antrenor prepare again"]
    return []


def _problem_type(train_cfg: Any) -> str | None:
    """single_label_classification, multi_label_classification or regression, from the first training record."""
    if train_cfg.task != "classification":
        return None
    path = Path(train_cfg.data) / "train.jsonl"
    if not path.is_file():
        return None
    with path.open(encoding="utf-8") as handle:
        first = next((line for line in handle if line.strip()), None)
    if first is None:
        return None
    from antrenor.training.classify import problem_type

    return problem_type([json.loads(first)])


def _default_metric(train_cfg: Any, problem_type: str | None) -> str:
    """The metric train picks its best checkpoint by (see trainer_setup.build_trainer), so both agree."""
    if train_cfg.metric:
        return train_cfg.metric if train_cfg.metric.startswith("eval_") else f"eval_{train_cfg.metric}"
    return "eval_accuracy" if problem_type == "single_label_classification" else "eval_loss"


def _known_metrics(task: str, problem_type: str | None) -> tuple[str, ...]:
    if task == "classification":
        return CLASSIFICATION_METRICS.get(problem_type or "", ())
    return LANGUAGE_MODEL_METRICS
