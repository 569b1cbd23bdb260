"""eval_report.html (self-contained: charts embedded), eval_report.md, metrics.json, predictions.jsonl.

The report is built once as a list of blocks (headings, paragraphs, tables, images) and
rendered twice, so the Markdown and the HTML always say the same thing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from antrenor.evaluation import charts
from antrenor.evaluation.alignment_report import alignment_blocks, alignment_curve_blocks
from antrenor.evaluation.compare import verdict_sentence
from antrenor.evaluation.config import EvalConfig
from antrenor.reporting.blocks import Block, fmt, plain_values, render_html, render_markdown
from antrenor.reporting.charts import metric_bars
from antrenor.reporting.files import write_json_atomic, write_jsonl_atomic, write_text_atomic

WORST_SHOWN = 10


def write_reports(output: Path, summary: dict[str, Any], results: dict[str, dict[str, Any]], cfg: EvalConfig) -> tuple[Path, Path]:
    write_json_atomic(output / "metrics.json", plain_values(summary))
    write_jsonl_atomic(output / "predictions.jsonl",
                       ({"model": label, **row} for label, r in results.items() for row in r["predictions"]))
    blocks = build_blocks(summary, results, cfg)
    html_path, md_path = output / "eval_report.html", output / "eval_report.md"
    write_text_atomic(html_path, render_html(blocks))
    write_text_atomic(md_path, render_markdown(blocks))
    return html_path, md_path


def headline_sentence(summary: dict[str, Any]) -> str:
    name, base = summary["headline"], summary["base"]
    if base is None:
        return f"No base model compared; {name} is shown for each model."
    sentences = [verdict_sentence(label, entry["vs_strongest_baseline"]) for label, entry in summary["models"].items()
                 if entry.get("vs_strongest_baseline")]
    for label, entry in summary["models"].items():
        gain = entry.get("vs_base", {}).get(name)
        if not gain:
            continue
        verdict = "beats" if gain["improved"] else "does not beat"
        significance = "significant" if gain["p_value"] < 0.05 else "not significant"
        relative = f" ({gain['relative_percent']:+.1f} %)" if gain["relative_percent"] is not None else ""
        sentences.append(f"**{label}** {verdict} the base on {name}: {fmt(gain['base'])} → {fmt(gain['tuned'])}, "
                         f"{gain['delta']:+.2f}{relative}; paired bootstrap p = {gain['p_value']:.3g} ({significance}).")
    return " ".join(sentences)


def headline_rows(summary: dict[str, Any]) -> list[list[str]]:
    """[model, headline value, delta vs base, p] per model: the terminal's one table."""
    name = summary["headline"]
    rows = []
    for label, entry in summary["models"].items():
        value = entry.get("metrics", {}).get(name)
        gain = entry.get("vs_base", {}).get(name)
        rows.append([label, f"{value['value']:.2f}" if value else "–", f"{gain['delta']:+.2f}" if gain else "",
                     f"{gain['p_value']:.3g}" if gain else ""])
    return rows


def build_blocks(summary: dict[str, Any], results: dict[str, dict[str, Any]], cfg: EvalConfig) -> list[Block]:
    models = summary["models"]
    blocks: list[Block] = [("h1", "Evaluation report"), ("p", headline_sentence(summary)),
                           ("p", f"Task {summary['task']} on {summary['examples']} {summary['split']} examples of "
                                 f"{summary['data']}; seed {summary['seed']}; 95 % intervals from "
                                 f"{cfg.bootstrap_samples} bootstrap resamples.")]
    blocks += [("p", f"Note: {note}") for note in summary["notes"]]
    blocks += _metric_blocks(summary)
    blocks += alignment_blocks(summary, results)
    blocks += _classification_blocks(models)
    blocks += _robustness_blocks(summary)
    blocks += _ood_blocks(models)
    blocks += _forgetting_blocks(models)
    blocks += _curve_blocks(models)
    blocks += _worst_blocks(summary, results)
    timing = [[label, *(fmt(m.get("seconds", {}).get(s), 1) for s in ("metrics", "robustness", "ood", "forgetting"))]
              for label, m in models.items()]
    blocks += [("h2", "Time (seconds)"), ("table", (["model", "metrics", "robustness", "ood", "forgetting"], timing))]
    return blocks


def _metric_blocks(summary: dict[str, Any]) -> list[Block]:
    models = summary["models"]
    names = list(next(iter(models.values()))["metrics"])
    rows = []
    for label, entry in models.items():
        for name in names:
            figure = entry["metrics"].get(name)
            if figure is None:  # e.g. the k-shot baseline has no answer perplexity of its own
                continue
            gain = entry.get("vs_base", {}).get(name, {})
            rows.append([label, name, fmt(figure["value"]), f"{fmt(figure['ci95'][0])} – {fmt(figure['ci95'][1])}",
                         fmt(gain.get("delta")), fmt(gain.get("relative_percent")), fmt(gain.get("p_value"), 3)])
    blocks: list[Block] = [("h2", "Metrics"), ("table", (["model", "metric", "value", "95 % CI", "Δ vs base",
                                                          "Δ %", "p (paired)"], rows))]
    image = metric_bars(summary, [n for n in names if "perplexity" not in n and n != "mse"][:6])
    if image:
        blocks.append(("img", ("metrics with 95 % intervals", image)))
    return blocks


def _classification_blocks(models: dict[str, Any]) -> list[Block]:
    blocks: list[Block] = []
    for label, entry in models.items():
        details = entry.get("details") or {}
        if not details.get("per_class"):
            continue
        rows = [[name, fmt(c["precision"]), fmt(c["recall"]), fmt(c["f1"]), c["support"]]
                for name, c in details["per_class"].items()]
        blocks += [("h2", f"Per class: {label}"), ("table", (["class", "precision", "recall", "F1", "support"], rows))]
        image = charts.confusion_matrix(details)
        if image:
            blocks.append(("img", (f"confusion matrix of {label}", image)))
    return blocks


def _robustness_blocks(summary: dict[str, Any]) -> list[Block]:
    models = {label: m for label, m in summary["models"].items() if "robustness" in m}
    if not models:
        return []
    blocks: list[Block] = [("h2", "Robustness"), ("p", "The same seeded sample, clean and perturbed (only what a user types "
                                                       "is changed); drop = how much worse, in the metric's units.")]
    columns = [(label, metric) for label, entry in models.items() for metric in entry["robustness"]["clean"]]
    first = next(iter(models.values()))["robustness"]
    rows = [["clean", *(fmt(models[label]["robustness"]["clean"][metric]) for label, metric in columns)]]
    for name in first["perturbations"]:
        cells = []
        for label, metric in columns:
            figure = models[label]["robustness"]["perturbations"][name][metric]
            relative = figure["relative_drop_percent"]
            cells.append(fmt(figure["value"]) + (f" (−{relative:.1f} %)" if relative and relative > 0 else
                                                 f" (+{-relative:.1f} %)" if relative and relative < 0 else ""))
        rows.append([name, *cells])
    blocks[1] = ("p", f"The same {first['examples']} seeded examples, clean and perturbed (only what a user types is "
                      f"changed; noise rate {first['rate']}). In brackets: change relative to clean, − = worse.")
    blocks.append(("table", (["input", *(f"{label}: {metric}" for label, metric in columns)], rows)))
    metric = next(iter(next(iter(models.values()))["robustness"]["clean"]))
    image = charts.robustness_drops(summary, metric)
    if image:
        blocks.append(("img", ("robustness drops", image)))
    attacks = [[label, m["robustness"]["attack"]["attempted"], m["robustness"]["attack"]["succeeded"],
                fmt(m["robustness"]["attack"]["success_rate_percent"], 1), fmt(m["robustness"]["attack"]["mean_words_changed"], 1)]
               for label, m in models.items() if "attack" in m["robustness"]]
    if attacks:
        blocks += [("h3", "Adversarial word substitutions"),
                   ("table", (["model", "attacked", "label flipped", "success %", "words changed"], attacks))]
        for label, m in models.items():
            for example in m["robustness"].get("attack", {}).get("examples", [])[:2]:
                blocks.append(("p", f"{label}: “{example['adversarial'][:200]}” → {example['now']} "
                                    f"(was {example['label']}, {example['words_changed']} word(s) changed)"))
    return blocks


def _ood_blocks(models: dict[str, Any]) -> list[Block]:
    rows = []
    for label, entry in models.items():
        section = entry.get("ood")
        if not section:
            continue
        ood = section["metrics"]
        inside = ", ".join(f"{k} {fmt(_value(v))}" for k, v in entry.get("metrics", {}).items() if k in ood)
        outside = ", ".join(f"{k} {fmt(_value(v))}" for k, v in ood.items()) or "no labels: detection only"
        aurocs = ", ".join(f"{k} {fmt(v, 3)}" for k, v in section["auroc"].items())
        rows.append([label, inside or "-", outside, aurocs])
    if not rows:
        return []
    return [("h2", "Out of distribution"),
            ("p", "Metrics on the OOD set, and AUROC of each OOD score between in- and out-of-distribution inputs "
                  "(1.0: perfectly told apart, 0.5: not at all)."),
            ("table", (["model", "in distribution", "out of distribution", "AUROC"], rows))]


def _value(metric: Any) -> Any:
    """A metric entry is a figure or {"value": figure, "ci": ...}."""
    return metric.get("value") if isinstance(metric, dict) else metric


def _forgetting_blocks(models: dict[str, Any]) -> list[Block]:
    rows = []
    for label, entry in models.items():
        for name, figure in entry.get("forgetting_vs_base", {}).items():
            rows.append([label, name, fmt(figure["base"]), fmt(figure["tuned"]), fmt(figure["change_percent"]),
                         "FORGETTING" if figure["forgetting"] else "ok"])
    if not rows:
        single = [[label, name, fmt(v)] for label, m in models.items() for name, v in m.get("forgetting", {}).items()]
        return [("h2", "General ability"), ("table", (["model", "figure", "value"], single))] if single else []
    return [("h2", "Forgetting"), ("p", "General ability on text the tuning never saw, base vs tuned."),
            ("table", (["model", "figure", "base", "tuned", "change %", "flag"], rows))]


def _curve_blocks(models: dict[str, Any]) -> list[Block]:
    blocks: list[Block] = []
    for label, entry in models.items():
        if entry["role"] != "tuned":
            continue
        image = charts.training_curves(entry["source"])
        aligned = alignment_curve_blocks(label, entry)
        if image or aligned:
            blocks.append(("h2", f"Training curves: {label}"))
        if image:
            blocks.append(("img", (f"training curves of {label}", image)))
        blocks += aligned
    return blocks


def _worst_blocks(summary: dict[str, Any], results: dict[str, dict[str, Any]]) -> list[Block]:
    tuned = [label for label, r in results.items() if r["role"] == "tuned"]
    if not tuned:
        return []
    label = tuned[0]
    rows = results[label]["predictions"]
    if rows and "rougeL" in rows[0]:
        worst = sorted(rows, key=lambda r: r["rougeL"])[:WORST_SHOWN]
        table = [[r["prompt"][:160], r["reference"][:120], r["prediction"][:120], fmt(r["rougeL"], 1)] for r in worst]
        headers = ["prompt", "reference", "prediction", "ROUGE-L"]
    elif rows and "correct" in rows[0]:
        worst = sorted((r for r in rows if not r["correct"]), key=lambda r: -r["confidence"])[:WORST_SHOWN]
        table = [[str(r["input"])[:200], r["reference"], r["prediction"], fmt(r["confidence"], 3)] for r in worst]
        headers = ["input", "true", "predicted", "confidence"]
    elif rows and "loss" in rows[0]:
        worst = sorted((r for r in rows if r["loss"] is not None), key=lambda r: -r["loss"])[:WORST_SHOWN]
        table = [[r["input"][:200], fmt(r["loss"], 3)] for r in worst]
        headers = ["text", "loss"]
    else:
        return []
    return [("h2", f"Worst predictions: {label}"), ("table", (headers, table))]

