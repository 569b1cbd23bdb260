"""Pruning: each evaluation during a trial's training is reported to optuna, which may stop the trial."""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback

from antrenor.errors import ConfigError
from antrenor.tuning.config import PrunerConfig


class PruningCallback(TrainerCallback):
    """Report `metric` at every evaluation (`trial.report(value, step)`); stop training when optuna says prune.

    The run then ends as a stopped run does (final evaluation, model saved); tune marks the trial pruned.
    """

    def __init__(self, trial: Any, metric: str):
        self.trial = trial
        self.metric = metric
        self.pruned_at_step: int | None = None
        self._training = False

    def on_train_begin(self, args, state, control, **kwargs):
        self._training = True

    def on_train_end(self, args, state, control, **kwargs):
        self._training = False  # the final evaluation that follows scores the finished run: not an intermediate value

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if not self._training or not metrics:
            return
        if self.metric not in metrics:
            reported = ", ".join(sorted(k for k in metrics if k.startswith("eval_") and isinstance(metrics[k], (int, float))))
            raise ConfigError(f"tune: metric {self.metric} is not among the validation metrics of this task: {reported}")
        self.trial.report(float(metrics[self.metric]), state.global_step)
        # at the last step there is nothing left to save: the run completes and is scored as such
        if state.global_step < state.max_steps and self.trial.should_prune():
            self.pruned_at_step = state.global_step
            control.should_training_stop = True


def build_pruner(config: PrunerConfig) -> Any:
    import optuna

    if config.kind == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=config.n_startup_trials, n_warmup_steps=config.n_warmup_steps)
