"""Turning each model's figures into the comparison a report shows: bootstrap 95 % confidence
intervals, gains over the base (absolute and relative), a paired significance test on the same
resamples, and forgetting flags. The result is exactly what metrics.json holds.
"""

from __future__ import annotations

from typing import Any

from antrenor.evaluation.alignment_compare import compare_alignment, final_curve_values, read_training_log
from antrenor.evaluation.config import ALIGNED_LM_TASKS, EvalConfig
from antrenor.evaluation.forgetting import compare_forgetting
from antrenor.evaluation.metrics import LOWER_IS_BETTER
from antrenor.provenance import package_versions
from antrenor.reporting.stats import bootstrap_ci, paired_bootstrap_pvalue

HEADLINES = {"sft": "rougeL", "clm": "perplexity", "mlm": "perplexity", "reward": "pairwise_accuracy"}
CLASSIFICATION_HEADLINES = {"regression": "spearman", "multi_label_classification": "micro_f1"}
ALIGNED_LM_HEADLINES = ("reward", "margin")  # the judge's mean reward when there is a judge, else the pair margin


def headline_metric(task: str, metric_names: list[str]) -> str:
    if task in HEADLINES:
        return HEADLINES[task]
    for name in ("accuracy", *CLASSIFICATION_HEADLINES.values(), *ALIGNED_LM_HEADLINES):
        if name in metric_names:
            return name
    return metric_names[0]


def compare_models(results: dict[str, dict[str, Any]], cfg: EvalConfig, task: str, kind: str, examples: int,
                   notes: list[str]) -> dict[str, Any]:
    base = next((label for label, r in results.items() if r["role"] == "base"), None)
    models = {}
    for label, result in results.items():
        entry = {key: result[key] for key in ("role", "source", "details", "robustness", "ood", "forgetting", "seconds")
                 if key in result}
        entry["metrics"] = {}
        for name, fn in result["_metric_fns"].items():
            low, high = bootstrap_ci(fn, examples, cfg.bootstrap_samples, cfg.seed)
            entry["metrics"][name] = {"value": result["metrics"][name], "ci95": [low, high]}
        if base is not None and label != base:
            entry["vs_base"] = _gains(result, results[base], examples, cfg)
            if "forgetting" in result and "forgetting" in results[base]:
                entry["forgetting_vs_base"] = compare_forgetting(results[base]["forgetting"], result["forgetting"],
                                                                 cfg.forgetting.threshold)
            if task in ALIGNED_LM_TASKS:
                entry["alignment_vs_base"] = compare_alignment(result, results[base], cfg)
        if task in (*ALIGNED_LM_TASKS, "reward") and result["role"] == "tuned":
            curves = final_curve_values(read_training_log(result["source"]))  # what TRL logged while it trained
            if curves:
                entry["training_curves"] = curves
        models[label] = entry
    first = next(iter(results.values()))
    return {
        "stage": "eval", "task": task, "kind": kind, "data": cfg.data, "split": cfg.split, "examples": examples,
        "seed": cfg.seed, "base": base, "headline": headline_metric(task, list(first["metrics"])),
        "models": models, "notes": notes,
        "versions": package_versions(("antrenor", "torch", "transformers", "peft", "sacrebleu", "rouge-score", "scikit-learn")),
    }


def _gains(tuned: dict[str, Any], base: dict[str, Any], examples: int, cfg: EvalConfig) -> dict[str, dict[str, Any]]:
    gains = {}
    for name, fn in tuned["_metric_fns"].items():
        if name not in base["_metric_fns"]:
            continue
        after, before = tuned["metrics"][name], base["metrics"][name]
        delta = after - before
        improved = delta < 0 if name in LOWER_IS_BETTER else delta > 0
        gains[name] = {
            "base": before, "tuned": after, "delta": delta,
            "relative_percent": round(100 * delta / abs(before), 2) if before else None,
            "p_value": paired_bootstrap_pvalue(fn, base["_metric_fns"][name], examples, cfg.bootstrap_samples, cfg.seed),
            "improved": bool(improved),
        }
    return gains
