"""The `tune` section of a pipeline YAML: how many trials, which metric, and the search space.

Example (in the pipeline YAML, beside `prepare:` and `train:`):

    tune:
      trials: 20
      space:
        lr: {low: 1.0e-5, high: 1.0e-3, log: true}
        lora.r: {choices: [8, 16, 32]}
        warmup_ratio: {low: 0.0, high: 0.2}
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from antrenor.config import StageConfig, StrictModel

Scalar = str | int | float | bool | None


class ParamRange(StrictModel):
    """One dimension of the search space: a numeric range (`low`, `high`, optional `log` or `step`) or `choices`."""

    low: int | float | None = Field(None, description="Smallest value tried (inclusive).")
    high: int | float | None = Field(None, description="Largest value tried (inclusive).")
    log: bool = Field(False, description="Sample on a log scale (for lr: 1e-5..1e-3 spread evenly per decade).")
    step: int | float | None = Field(None, gt=0, description="Only values low, low+step, ... (not with log).")
    choices: list[Scalar] | None = Field(None, description="Try exactly these values instead of a range.")

    @model_validator(mode="after")
    def _check_shape(self) -> "ParamRange":
        ranged = self.low is not None or self.high is not None
        if self.choices is not None:
            if ranged or self.log or self.step is not None:
                raise ValueError("give either choices or a range (low, high, log, step), not both")
            if not self.choices:
                raise ValueError("choices is empty: list at least one value")
            return self
        if self.low is None or self.high is None:
            raise ValueError("a range needs both low and high (or give choices: [...])")
        if self.low >= self.high:
            raise ValueError(f"low {self.low} must be below high {self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"log: true needs low > 0 (got low {self.low}); a log scale cannot reach 0")
        if self.log and self.step is not None:
            raise ValueError("log and step cannot be combined")
        return self

    def candidate_values(self, whole_numbers: bool, most: int = 64) -> list[Any]:
        """Values whose train configs are validated before the search: every choice; the ends of a range,
        and every value of a whole-number range with at most `most` of them (batch sizes must divide)."""
        if self.choices is not None:
            return list(self.choices)
        if whole_numbers and not self.log:
            step = int(self.step or 1)
            count = (int(self.high) - int(self.low)) // step + 1
            if count <= most:
                return list(range(int(self.low), int(self.high) + 1, step))
        return [self.low, self.high]

    def as_text(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(str(c) for c in self.choices)
        scale = " (log)" if self.log else f" step {self.step:g}" if self.step else ""
        return f"{self.low:g}..{self.high:g}{scale}"


class PrunerConfig(StrictModel):
    """Stop unpromising trials early, at an evaluation during their training."""

    kind: Literal["median", "none"] = Field(
        "median", description="median: stop a trial whose metric at an evaluation is worse than the median of earlier "
        "trials at the same step; none: every trial runs to the end.")
    n_startup_trials: int = Field(5, ge=0, description="Never prune until this many trials have finished.")
    n_warmup_steps: int = Field(0, ge=0, description="Never prune a trial before this training step.")


class TuneConfig(StageConfig):
    """`antrenor tune`: search the train section's hyperparameters with optuna (the `tune` extra).
    Every trial trains with antrenor's own `train` on the `train:` section of the same pipeline YAML, its
    values replaced by the trial's, into `<output>/trial-<n>`, and is scored on the validation split.
    `space` maps train keys (dotted for nested ones: `lr`, `lora.r`, `warmup_ratio`, ...) to a range
    `{low: 1.0e-5, high: 1.0e-3, log: true}` (whole numbers for whole-number keys; optional `step`) or to
    `{choices: [8, 16, 32]}`. Default space: lr on a log scale from a quarter to four times the train
    section's lr (or the method's default), lora.r and lora.alpha for lora/qlora, warmup_ratio 0..0.2 and
    weight_decay 0..0.1. The study lives in `<output>/study.db`: run the same command again to resume; trials
    already finished count toward `trials`. Writes trials.csv, tune_report.md, best.json and
    best_pipeline.yaml (the pipeline with the best trial's values, ready to run)."""

    stage: ClassVar[str] = "tune"

    trials: int = Field(20, ge=1, description="Finished trials wanted (complete or pruned), counting those of a resumed study.")
    metric: str | None = Field(
        None, description="Validation metric to optimize, e.g. eval_loss, eval_accuracy, eval_macro_f1; default: the one "
        "train picks its best checkpoint by (train.metric, else eval_loss; eval_accuracy for single-label classification).")
    direction: Literal["auto", "minimize", "maximize"] = Field(
        "auto", description="auto: minimize loss, perplexity and mse; maximize the other metrics.")
    seed: int = Field(42, description="Seed of the sampler (each trial trains with the train section's seed).")
    sampler: Literal["tpe", "random"] = Field(
        "tpe", description="tpe: Bayesian (tree-structured Parzen estimator), starting with random trials for a third "
        "of `trials` (2 to 10); random: independent random trials.")
    pruner: PrunerConfig = Field(default_factory=PrunerConfig, description="Early stopping of unpromising trials.")
    output: str | None = Field(None, description="Output folder: study.db, trial-<n> folders and reports; default: <train.output>-tune.")
    timeout: float | None = Field(
        None, gt=0, description="Start no new trial after this many seconds (a running trial finishes).")
    keep: Literal["best", "all"] = Field(
        "best", description="best: delete the weights and checkpoints of every trial but the best one "
        "(their metrics.jsonl, manifest and train_config.yaml stay); all: keep every trial's model.")
    space: dict[str, ParamRange] | None = Field(
        None, description="Train keys to search and their ranges, e.g. {lr: {low: 1.0e-5, high: 1.0e-3, log: true}, "
        "lora.r: {choices: [8, 16, 32]}}; default: see above.")

    @field_validator("metric")
    @classmethod
    def _prefixed_metric(cls, value: str | None) -> str | None:
        # train's `metric` says "accuracy", the Trainer reports "eval_accuracy": accept both
        return value if value is None or value.startswith("eval_") else f"eval_{value}"

    @field_validator("space")
    @classmethod
    def _not_empty(cls, value: dict[str, ParamRange] | None) -> dict[str, ParamRange] | None:
        if value is not None and not value:
            raise ValueError("space is empty: name at least one train key to search, or leave space out for the default")
        return value


def default_direction(metric: str) -> str:
    lower_is_better = ("loss", "perplexity", "mse")
    return "minimize" if metric.removeprefix("eval_") in lower_is_better else "maximize"


def default_space(train: dict[str, Any]) -> dict[str, ParamRange]:
    """The space searched when the tune section names none, around the train section's own settings."""
    from antrenor.training.config import DEFAULT_LR

    method = train.get("method", "lora")
    centre = float(train.get("lr") or DEFAULT_LR.get(method, 1e-4))
    space = {"lr": ParamRange(low=float(f"{centre / 4:.3g}"), high=float(f"{centre * 4:.3g}"), log=True)}
    if method in ("lora", "qlora"):
        space["lora.r"] = ParamRange(choices=[8, 16, 32])
        space["lora.alpha"] = ParamRange(choices=[16, 32, 64])
    space["warmup_ratio"] = ParamRange(low=0.0, high=0.2)
    space["weight_decay"] = ParamRange(low=0.0, high=0.1)
    return space
