"""drift_report.html (self-contained, charts embedded), drift_report.md and drift.json.

Built as blocks and rendered by the evaluation report's renderers, so the two files say the same
thing and look like the other stages' reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from antrenor.monitoring.drift import DRIFT, Signal
from antrenor.reporting.blocks import Block, fmt, plain_values, render_html, render_markdown
from antrenor.reporting.charts import COLORS, png_base64
from antrenor.reporting.files import write_json_atomic, write_text_atomic


def write_drift_report(output: Path, summary: dict[str, Any], signals: Sequence[Signal]) -> None:
    write_json_atomic(output / "drift.json", plain_values(summary))
    blocks = build_blocks(summary, signals)
    write_text_atomic(output / "drift_report.html", render_html(blocks, title="antrenor drift report"))
    write_text_atomic(output / "drift_report.md", render_markdown(blocks, html_name="drift_report.html"))


def verdict_sentence(summary: dict[str, Any], signals: Sequence[Signal]) -> str:
    drifted = summary["drifted_signals"]
    judged = [s for s in signals if s.verdict in ("ok", DRIFT)]
    if drifted:
        return f"**Drift found** on {len(drifted)} of {len(judged)} signals with a verdict: {', '.join(drifted)}."
    if not judged:
        return "No verdict: no signal had enough data."
    return f"**No drift** on the {len(judged)} signals with a verdict."


def build_blocks(summary: dict[str, Any], signals: Sequence[Signal]) -> list[Block]:
    production, reference = summary["production"], summary["reference"]
    blocks: list[Block] = [
        ("h1", "Drift report"), ("p", verdict_sentence(summary, signals)),
        ("p", f"Production: {production['inputs']} inputs from {production['rows_used']} of {production['rows_read']} "
              f"log rows of {production['log']} (status 200; endpoints {', '.join(production['endpoints']) or 'none'}), "
              f"{production['first'] or '–'} to {production['last'] or '–'}; window {production['window'] or 'all'}"
              f"{', since ' + production['since'] if production['since'] else ''}. Reference: {reference['texts']} "
              f"input texts of the {reference['kind']} records in {reference['folder']}. Seed {summary['seed']}."),
        ("p", "A signal says drift when its statistic passes the threshold and its test's p-value is under alpha "
              "(the embedding test: the p-value alone)."),
    ]
    blocks += [("p", f"Note: {note}") for note in summary["notes"]]
    rows = [[s.name, fmt(s.statistic, 3), fmt(s.threshold, 3), "–" if s.p_value is None else f"{s.p_value:.2g}", fmt(s.reference, 3),
             fmt(s.production, 3), s.verdict.upper() if s.verdict == DRIFT else s.verdict, s.note] for s in signals]
    blocks += [("h2", "Verdicts"), ("table", (["signal", "statistic", "threshold", "p-value", "reference", "production",
                                               "verdict", "how"], rows))]
    blocks += _chart_blocks(signals)
    blocks += _next_step_blocks(summary)
    return blocks


def _chart_blocks(signals: Sequence[Signal]) -> list[Block]:
    blocks: list[Block] = []
    for signal in signals:
        series = signal.series
        if not series:
            continue
        if "classes" in series:
            image = label_bars(series["classes"], series["reference"], series["production"])
        elif signal.name.startswith("input length"):
            image = overlaid_histograms(series["reference"], series["production"], f"{series['unit']} per input")
        elif signal.name.startswith("Romanian diacritics"):
            image = overlaid_histograms(series["reference"], series["production"], "diacritics per letter, per input")
        else:
            continue
        blocks += [("h2", signal.name), ("img", (f"{signal.name}: reference vs production", image))]
    return blocks


def _next_step_blocks(summary: dict[str, Any]) -> list[Block]:
    blocks: list[Block] = []
    if summary["to_label"]:
        blocks += [("h2", "To label"),
                   ("p", f"{summary['to_label']}: recent production inputs with the answer left empty. Fill it in, "
                         "set `labelled: PATH` in the monitor config, and a run with `--retrain` trains on them.")]
    retrain = summary.get("retrain")
    if retrain:
        rows = [[key, value] for key, value in retrain.items() if not isinstance(value, dict)]
        rows += [[f"metrics.{k}", fmt(v, 4)] for k, v in retrain.get("metrics", {}).items()]
        blocks += [("h2", "Retraining"), ("table", (["figure", "value"], rows))]
    return blocks


def overlaid_histograms(reference: Sequence[float], production: Sequence[float], xlabel: str) -> str:
    """Both sides as densities on shared bins (the sides differ in size)."""
    import numpy as np

    from antrenor.reporting.charts import pyplot

    plt = pyplot()
    values = np.concatenate([np.asarray(reference, dtype=float), np.asarray(production, dtype=float)])
    high = float(np.quantile(values, 0.99)) if len(values) else 1.0
    bins = np.linspace(float(values.min()) if len(values) else 0.0, max(high, 1e-9), 31)
    fig, ax = plt.subplots(figsize=(7, 3))
    for i, (label, data) in enumerate((("reference", reference), ("production", production))):
        clipped = np.clip(np.asarray(data, dtype=float), bins[0], bins[-1])
        ax.hist(clipped, bins=bins, density=True, alpha=0.55, color=COLORS[i + 1], label=f"{label} ({len(data)})")
    ax.set_xlabel(xlabel + " (last bin: 99th percentile and above)")
    ax.set_ylabel("density")
    ax.legend(frameon=False, fontsize=8)
    return png_base64(fig)


def label_bars(classes: Sequence[str], reference: Sequence[int], production: Sequence[int]) -> str:
    """Share of each class, reference vs predicted in production."""
    import numpy as np

    from antrenor.reporting.charts import pyplot

    plt = pyplot()
    positions = np.arange(len(classes))
    fig, ax = plt.subplots(figsize=(max(5.0, 0.7 * len(classes) + 2), 3.2))
    for i, (label, counts) in enumerate((("reference", reference), ("production", production))):
        shares = np.asarray(counts, dtype=float) / max(sum(counts), 1)
        ax.bar(positions + (i - 0.5) * 0.4, shares, 0.4, color=COLORS[i + 1], label=f"{label} ({sum(counts)})")
    ax.set_xticks(positions, classes, rotation=40, ha="right", fontsize=8)
    ax.set_ylabel("share")
    ax.legend(frameon=False, fontsize=8)
    return png_base64(fig)
