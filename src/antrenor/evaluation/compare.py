"""Turning each model's figures into the comparison a report shows: bootstrap 95 % confidence
intervals, gains over the base (absolute and relative), a paired significance test on the same
resamples, and forgetting flags. The result is exactly what metrics.json holds.
"""

from __future__ import annotations

from typing import Any

from antrenor.evaluation.alignment_compare import compare_alignment, final_curve_values, read_training_log
from antrenor.evaluation.config import ALIGNED_LM_TASKS, EvalConfig
from antrenor.evaluation.forgetting import compare_forgetting
from antrenor.errors import ConfigError
from antrenor.evaluation.metrics import LOWER_IS_BETTER
from antrenor.provenance import package_versions
from antrenor.reporting.stats import bootstrap_ci, paired_bootstrap_pvalue

HEADLINES = {"sft": "rougeL", "clm": "perplexity", "mlm": "perplexity", "reward": "pairwise_accuracy"}
CLASSIFICATION_HEADLINES = {"regression": "spearman", "multi_label_classification": "micro_f1"}
ALIGNED_LM_HEADLINES = ("reward", "margin")  # the judge's mean reward when there is a judge, else the pair margin


LABEL_ANSWERS_AT_MOST, LABEL_WORDS_AT_MOST = 10, 3


def answers_are_labels(references: list[str]) -> bool:
    """True when the references are a handful of short answers repeated (`pozitiv`/`negativ`, a code's name):
    a classification asked as instructions, where an answer is right or wrong and exact match is the measure."""
    normalized = {" ".join(r.casefold().split()) for r in references}
    return (len(references) >= 2 * len(normalized) and len(normalized) <= LABEL_ANSWERS_AT_MOST
            and all(len(r.split()) <= LABEL_WORDS_AT_MOST for r in normalized))


def headline_metric(task: str, metric_names: list[str], chosen: str = "auto", references: list[str] | None = None) -> str:
    if chosen != "auto":
        return chosen
    if task == "sft" and references and answers_are_labels(references):
        return "exact_match"
    if task in HEADLINES:
        return HEADLINES[task]
    for name in ("accuracy", *CLASSIFICATION_HEADLINES.values(), *ALIGNED_LM_HEADLINES):
        if name in metric_names:
            return name
    return metric_names[0]


def compare_models(results: dict[str, dict[str, Any]], cfg: EvalConfig, task: str, kind: str, examples: int,
                   notes: list[str], references: list[str] | None = None) -> dict[str, Any]:
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
    headline = headline_metric(task, list(first["metrics"]), cfg.headline, references)
    if headline not in first["metrics"]:
        raise ConfigError(f"headline {headline!r} is not a metric of this {task} evaluation",
                          problems=[f"choose one of: {', '.join(first['metrics'])} (or auto)"])
    for label, entry in models.items():
        if entry["role"] == "tuned":
            verdict = against_strongest_baseline(label, results, headline, examples, cfg)
            if verdict:
                entry["vs_strongest_baseline"] = verdict
    return {
        "stage": "eval", "task": task, "kind": kind, "data": cfg.data, "split": cfg.split, "examples": examples,
        "seed": cfg.seed, "base": base, "headline": headline,
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


def against_strongest_baseline(tuned: str, results: dict[str, dict[str, Any]], metric: str, examples: int,
                               cfg: EvalConfig) -> dict[str, Any] | None:
    """The tuned model's gain on the headline metric over the best of the baselines scored beside it (the base:
    zero-shot or a linear probe; the base k-shot), with a bootstrap 95 % interval of the gain and a paired p-value.
    `significant` means better at p < SIGNIFICANCE."""
    baselines = {label: r for label, r in results.items() if r["role"] in ("base", "baseline") and metric in r["metrics"]}
    if not baselines or metric not in results[tuned]["metrics"]:
        return None
    sign = -1 if metric in LOWER_IS_BETTER else 1
    strongest = max(baselines, key=lambda label: sign * baselines[label]["metrics"][metric])
    tuned_fn, base_fn = results[tuned]["_metric_fns"][metric], baselines[strongest]["_metric_fns"][metric]
    gain = sign * (results[tuned]["metrics"][metric] - baselines[strongest]["metrics"][metric])
    low, high = bootstrap_ci(lambda idx: sign * (tuned_fn(idx) - base_fn(idx)), examples, cfg.bootstrap_samples, cfg.seed)
    p_value = paired_bootstrap_pvalue(tuned_fn, base_fn, examples, cfg.bootstrap_samples, cfg.seed)
    return {"baseline": strongest, "metric": metric, "baseline_value": baselines[strongest]["metrics"][metric],
            "tuned_value": results[tuned]["metrics"][metric], "gain": gain, "gain_ci95": [low, high],
            "p_value": p_value, "significant": bool(gain > 0 and p_value < SIGNIFICANCE),
            "baselines": {label: r["metrics"][metric] for label, r in baselines.items()}}


def verdict_sentence(tuned: str, verdict: dict[str, Any]) -> str:
    """One plain sentence: did the tuned model beat its strongest baseline, by how much, how sure; and if not, why."""
    metric, gain = verdict["metric"], verdict["gain"]
    low, high = verdict["gain_ci95"]
    figures = f"{metric} {gain:+.2f} (95 % CI {low:+.2f} to {high:+.2f}, p {verdict['p_value']:.3g})"
    if verdict["significant"]:
        return f"{tuned} beats its strongest baseline, {verdict['baseline']}: {figures}."
    return (f"{tuned} does NOT significantly beat its strongest baseline, {verdict['baseline']}: {figures}. "
            f"Likely causes and what to try: {NO_GAIN_ADVICE}")


NO_GAIN_ADVICE = ("too little training (raise epochs, or check that validation loss was still falling), a learning "
                  "rate too low or too high for the method (LoRA usually 1e-4 to 3e-4, full 1e-5 to 5e-5), an adapter "
                  "too small for the task (try method full on small models), too little data, or a test set too small "
                  "to show a difference.")
SIGNIFICANCE = 0.05
