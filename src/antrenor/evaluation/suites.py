"""The four suites run on one loaded model: metrics, robustness, ood, forgetting.

Each task's evaluator (sft_eval, classify_eval, lm_eval, alignment_eval) has the same four methods (an
evaluator that declares `suites` needs only those suites' methods); this module
decides what to run on which examples and collects plain figures. Corpus metrics are kept as
functions of example indices (`_metric_fns`) so `compare.py` can bootstrap them and run paired
tests against the base on exactly the same resamples.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from antrenor.console import Reporter
from antrenor.evaluation.config import EvalConfig
from antrenor.evaluation.metrics import LOWER_IS_BETTER
from antrenor.evaluation.perturb import perturb_record, perturb_text
from antrenor.records.splits import sample
from antrenor.reporting.stats import auroc

ALL_SUITES = {"metrics", "robustness", "ood", "forgetting"}


def make_evaluator(task: str, kind: str, cfg: EvalConfig, labels: dict[str, Any], train_records: list[dict[str, Any]]) -> Any:
    if task in ("preference", "rl"):
        from antrenor.evaluation.alignment_eval import AlignedModelEvaluator

        return AlignedModelEvaluator(kind, cfg)
    if task == "reward":
        from antrenor.evaluation.alignment_eval import RewardModelEvaluator

        return RewardModelEvaluator(cfg)
    if task == "sft":
        from antrenor.evaluation.sft_eval import SftEvaluator

        return SftEvaluator(kind, cfg)
    if task == "classification":
        from antrenor.evaluation.classify_eval import ClassificationEvaluator

        return ClassificationEvaluator(cfg, labels, train_records)
    from antrenor.evaluation.lm_eval import LanguageModelEvaluator

    return LanguageModelEvaluator(task, cfg)


def runs_suite(evaluator: Any, name: str, cfg: EvalConfig) -> bool:
    """Asked for, and meaningful for the evaluator's task (an evaluator may declare the `suites` it supports)."""
    return name in cfg.suite and name in getattr(evaluator, "suites", ALL_SUITES)


def evaluate_model(loaded: Any, evaluator: Any, records: list[dict[str, Any]], ood_records: list[dict[str, Any]] | None,
                   kind: str, cfg: EvalConfig, reporter: Reporter) -> dict[str, Any]:
    result: dict[str, Any] = {"source": loaded.source, "role": loaded.role, "seconds": {}}
    with reporter.progress(f"{loaded.label}: {cfg.split} set", total=len(records)) as bar:
        evaluator.progress = bar.advance
        started = time.perf_counter()
        metric_fns, rows, details = evaluator.score(loaded, records)
        result["seconds"]["metrics"] = round(time.perf_counter() - started, 1)
    everything = np.arange(len(records))
    result["metrics"] = {name: fn(everything) for name, fn in metric_fns.items()}
    result["_metric_fns"], result["predictions"], result["details"] = metric_fns, rows, details
    evaluator.progress = None
    if runs_suite(evaluator, "robustness", cfg):
        started = time.perf_counter()
        result["robustness"] = robustness(loaded, evaluator, records, kind, cfg, reporter)
        result["seconds"]["robustness"] = round(time.perf_counter() - started, 1)
    if runs_suite(evaluator, "ood", cfg) and ood_records:
        started = time.perf_counter()
        result["ood"] = out_of_distribution(loaded, evaluator, records, ood_records, kind, cfg)
        result["seconds"]["ood"] = round(time.perf_counter() - started, 1)
    if runs_suite(evaluator, "forgetting", cfg):
        started = time.perf_counter()
        reporter.info(f"{loaded.label}: forgetting (general text)")
        result["forgetting"] = evaluator.forgetting_figures(loaded)
        result["seconds"]["forgetting"] = round(time.perf_counter() - started, 1)
    return result


def perturbed(records: list[dict[str, Any]], kind: str, name: str, seed: int, rate: float) -> list[dict[str, Any]]:
    if kind == "text":  # raw text has no user side: the whole text is the input
        return [{**r, "text": perturb_text(r["text"], name, seed, i, rate)} for i, r in enumerate(records)]
    return [perturb_record(r, kind, name, seed, i, rate) for i, r in enumerate(records)]


def robustness(loaded: Any, evaluator: Any, records: list[dict[str, Any]], kind: str, cfg: EvalConfig,
               reporter: Reporter) -> dict[str, Any]:
    """The headline metrics on clean and perturbed copies of the same seeded sample, and the drop."""
    settings = cfg.robustness
    subset = sample(records, settings.max_examples, cfg.seed)
    section: dict[str, Any] = {"examples": len(subset), "rate": settings.rate}
    with reporter.progress(f"{loaded.label}: robustness", total=len(settings.perturbations) + 1) as bar:
        clean = evaluator.robustness_figures(loaded, subset)
        bar.advance()
        section["clean"] = clean
        section["perturbations"] = {}
        for name in settings.perturbations:
            figures = evaluator.robustness_figures(loaded, perturbed(subset, kind, name, cfg.seed, settings.rate))
            section["perturbations"][name] = {
                metric: {"value": value, "drop": _drop(metric, clean[metric], value),
                         "relative_drop_percent": _relative(metric, clean[metric], value)}
                for metric, value in figures.items()}
            bar.advance()
    attack_fn = getattr(evaluator, "predict_proba_fn", None)
    if settings.attack and attack_fn and getattr(evaluator, "problem_type", "") == "single_label_classification":
        with reporter.progress(f"{loaded.label}: attack", total=min(len(subset), settings.attack_examples)) as bar:
            section["attack"] = _attack(loaded, evaluator, subset, cfg, bar.advance)
    return section


def _attack(loaded: Any, evaluator: Any, records: list[dict[str, Any]], cfg: EvalConfig, on_text: Any = None) -> dict[str, Any]:
    from antrenor.evaluation.attack import attack_many

    texts = [r["text"] for r in records if "text" in r][: cfg.robustness.attack_examples]
    texts = [visible_part(text, loaded.tokenizer, cfg.max_length) for text in texts]
    labels = evaluator.truth(records[: len(texts)])
    summary = attack_many(texts, labels, evaluator.predict_proba_fn(loaded), cfg.robustness.max_change_ratio, cfg.seed,
                          on_text=on_text)
    names = evaluator.names
    shown = [{"original": r.original, "adversarial": r.adversarial, "label": names[r.original_label],
              "now": names[r.adversarial_label], "words_changed": r.words_changed}
             for r in summary.examples if r.success][:5]
    return {"attempted": summary.attempted, "skipped_misclassified": summary.skipped, "succeeded": summary.succeeded,
            "success_rate_percent": 100 * summary.success_rate if summary.attempted else None,
            "mean_words_changed": None if np.isnan(summary.mean_words_changed) else summary.mean_words_changed,
            "mean_queries": None if np.isnan(summary.mean_queries) else summary.mean_queries, "examples": shown}


def out_of_distribution(loaded: Any, evaluator: Any, records: list[dict[str, Any]], ood_records: list[dict[str, Any]],
                        kind: str, cfg: EvalConfig) -> dict[str, Any]:
    """Metrics on the OOD set, and AUROC of each OOD score between in- and out-of-distribution inputs."""
    subset = sample(records, cfg.ood_detection.max_examples, cfg.seed)
    section = {"examples": {"in_distribution": len(subset), "out_of_distribution": len(ood_records)},
               "metrics": {}, "auroc": {}}
    if has_references(ood_records, kind):
        ood_metrics, _, _ = evaluator.score(loaded, ood_records)
        everything = np.arange(len(ood_records))
        section["metrics"] = {name: fn(everything) for name, fn in ood_metrics.items()}
    inside, outside = evaluator.ood_scores(loaded, subset), evaluator.ood_scores(loaded, ood_records)
    for name in inside:
        section["auroc"][name] = auroc(inside[name], outside[name])
    return section


def visible_part(text: str, tokenizer: Any, max_length: int) -> str:
    """The part of `text` the model reads (its first max_length tokens). Words past it are never seen:
    ranking and misspelling them would cost the attack queries and change nothing."""
    try:
        offsets = tokenizer(text, truncation=True, max_length=max_length, return_offsets_mapping=True)["offset_mapping"]
    except (NotImplementedError, TypeError, KeyError):  # a slow tokenizer has no offsets: keep every word
        return text
    return text[: max((end for _, end in offsets), default=len(text))]


def has_references(records: list[dict[str, Any]], kind: str) -> bool:
    """False for plain text records given to a classifier as OOD inputs: nothing to score them against."""
    if kind not in ("classification", "pairs"):
        return True
    return all(any(key in r for key in ("label", "labels", "score")) for r in records)


def _drop(metric: str, clean: float, value: float) -> float:
    """How much worse the perturbed figure is, in the metric's units (positive = worse)."""
    return (value - clean) if metric in LOWER_IS_BETTER else (clean - value)


def _relative(metric: str, clean: float, value: float) -> float | None:
    if not clean:
        return None
    return round(100 * _drop(metric, clean, value) / abs(clean), 2)
