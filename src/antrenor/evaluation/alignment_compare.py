"""Aligned models against their base, example by example, and what their training logged.

- `win_rate`: the judge's verdict on each prompt, tuned answer vs base answer (a win 1, a tie 0.5, a loss
  0), averaged; a bootstrap 95 % interval; an exact sign test on wins vs losses.
- `margin_change`: per held-out pair, the tuned model's chosen-vs-rejected margin minus the base's; its
  mean with a bootstrap interval and paired p-value, and the share of pairs whose margin rose.
- `training_curves`: the reward, margin, KL and accuracy figures TRL logged to the run's metrics.jsonl
  (DPO's rewards/margins, GRPO's reward and kl, a reward model's accuracy; eval_ variants too), and
  their final values.

Both comparisons read the per-example figures from the prediction rows, so metrics.json and
predictions.jsonl cannot disagree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from antrenor.evaluation.config import EvalConfig
from antrenor.reporting.stats import bootstrap_ci, paired_bootstrap_pvalue, sign_test_pvalue

MARGIN_KEYS = ("rewards/margins", "margin")
KL_KEYS = ("kl", "objective/kl")
ACCURACY_KEYS = ("rewards/accuracies", "accuracy")
REWARD_KEYS = ("reward", "mean_reward", "rewards/chosen", "rewards/rejected")
CURVE_GROUPS = ("reward", "margin", "KL", "accuracy")  # the report's panels, in this order


def compare_alignment(tuned: dict[str, Any], base: dict[str, Any], cfg: EvalConfig) -> dict[str, Any]:
    """What a tuned aligned LM changed against its base on the same prompts and pairs (empty if nothing to compare)."""
    comparison = {}
    for name, figure in (("margin", margin_change), ("reward", win_rate)):
        after, before = _column(tuned["predictions"], name), _column(base["predictions"], name)
        if after is not None and before is not None:
            comparison["margin_change" if name == "margin" else "win_rate"] = figure(after, before, cfg)
    return comparison


def _column(rows: list[dict[str, Any]], name: str) -> np.ndarray | None:
    if not rows or name not in rows[0]:
        return None
    return np.array([row[name] for row in rows], dtype=float)


def win_rate(tuned: np.ndarray, base: np.ndarray, cfg: EvalConfig) -> dict[str, Any]:
    """Share of prompts whose tuned answer the judge rewards above the base's (ties count half)."""
    verdicts = np.where(tuned > base, 1.0, np.where(tuned == base, 0.5, 0.0))
    low, high = bootstrap_ci(lambda idx: float(verdicts[idx].mean()), len(verdicts), cfg.bootstrap_samples, cfg.seed)
    wins, ties = int((verdicts == 1.0).sum()), int((verdicts == 0.5).sum())
    losses = len(verdicts) - wins - ties
    return {"value": float(verdicts.mean()), "ci95": [low, high], "wins": wins, "ties": ties, "losses": losses,
            "p_value": sign_test_pvalue(wins, losses), "test": "two-sided exact sign test, ties left out"}


def margin_change(tuned: np.ndarray, base: np.ndarray, cfg: EvalConfig) -> dict[str, Any]:
    """Mean per-pair change of the log-prob margin (tuned - base), and the share of pairs where it rose."""
    change = tuned - base
    low, high = bootstrap_ci(lambda idx: float(change[idx].mean()), len(change), cfg.bootstrap_samples, cfg.seed)
    p_value = paired_bootstrap_pvalue(lambda idx: float(tuned[idx].mean()), lambda idx: float(base[idx].mean()),
                                      len(change), cfg.bootstrap_samples, cfg.seed)
    return {"mean": float(change.mean()), "ci95": [low, high], "p_value": p_value,
            "rose_share": float((change > 0).mean()), "pairs": len(change)}


def read_training_log(model_folder: str) -> list[dict[str, Any]]:
    """The run's metrics.jsonl (a checkpoint reads its run's), or [] without one."""
    from antrenor.models.loading import run_file

    path = run_file(Path(model_folder), "metrics.jsonl")
    if path is None:
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def curve_group(key: str) -> str | None:
    """reward, margin, KL or accuracy for an alignment figure TRL logs (train or eval_), else None."""
    name = key.removeprefix("eval_")
    if name in MARGIN_KEYS:
        return "margin"
    if name in KL_KEYS:
        return "KL"
    if name in ACCURACY_KEYS:
        return "accuracy"
    if name in REWARD_KEYS or (name.startswith("rewards/") and name.endswith("/mean")):  # GRPO: rewards/<function>/mean
        return "reward"
    return None


def training_curves(log: list[dict[str, Any]]) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """{group: {key: [(step, value), ...]}} for the alignment figures found in a training log."""
    curves: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for event in log:
        for key, value in event.items():
            group = curve_group(key)
            if group and isinstance(value, (int, float)) and np.isfinite(value):
                curves.setdefault(group, {}).setdefault(key, []).append((int(event.get("step", 0)), float(value)))
    return {group: curves[group] for group in CURVE_GROUPS if group in curves}


def final_curve_values(log: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """{key: {"first", "final", "step", "points"}}: where each logged alignment figure started and ended."""
    finals = {}
    for series in training_curves(log).values():
        for key, points in series.items():
            finals[key] = {"first": points[0][1], "final": points[-1][1], "step": points[-1][0], "points": len(points)}
    return dict(sorted(finals.items()))
