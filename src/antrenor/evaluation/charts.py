"""The report's charts, as base64 PNG strings embedded in the HTML (one self-contained file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from antrenor.reporting.charts import COLORS, png_base64, pyplot


def robustness_drops(summary: dict[str, Any], metric: str) -> str | None:
    """Relative drop (%) of `metric` per perturbation, one bar group per model."""
    rows = {label: m["robustness"]["perturbations"] for label, m in summary["models"].items() if "robustness" in m}
    if not rows:
        return None
    perturbations = list(next(iter(rows.values())))
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 1.2 * len(perturbations)), 3.2))
    width = 0.8 / len(rows)
    for i, (label, found) in enumerate(rows.items()):
        values = [(found[p].get(metric) or {}).get("relative_drop_percent") or 0.0 for p in perturbations]
        ax.bar([x + i * width for x in range(len(perturbations))], values, width, label=label, color=COLORS[i % len(COLORS)])
    ax.set_xticks([x + width * (len(rows) - 1) / 2 for x in range(len(perturbations))], perturbations, rotation=15)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_ylabel(f"{metric} drop, % of clean")
    ax.legend(frameon=False, fontsize=8)
    return png_base64(fig)


def confusion_matrix(details: dict[str, Any]) -> str | None:
    matrix, labels = details.get("confusion_matrix"), details.get("labels")
    if not matrix:
        return None
    plt = pyplot()
    size = max(3.5, 0.45 * len(labels) + 1.5)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    for r, row in enumerate(matrix):
        for c, count in enumerate(row):
            if count:
                ax.text(c, r, str(count), ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(labels)), labels, rotation=60, fontsize=7, ha="right")
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    return png_base64(fig)


def training_curves(model_folder: str) -> str | None:
    """Train vs validation loss from the run's metrics.jsonl: the overfitting diagnostic."""
    from antrenor.reporting.charts import loss_curves_figure

    path = Path(model_folder) / "metrics.jsonl"
    if not path.is_file():
        return None
    fig = loss_curves_figure([json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()])
    return png_base64(fig) if fig is not None else None


def alignment_curves(curves: dict[str, dict[str, list[tuple[int, float]]]]) -> str | None:
    """One panel per logged group (reward, margin, KL, accuracy): train figures as lines, eval_ ones as dots."""
    if not curves:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, len(curves), figsize=(3.6 * len(curves), 3.2), squeeze=False)
    for ax, (group, series) in zip(axes[0], curves.items()):
        for i, (key, points) in enumerate(series.items()):
            steps, values = zip(*points)
            style = {"marker": "o", "linestyle": "--"} if key.startswith("eval_") else {}
            ax.plot(steps, values, color=COLORS[(i + 1) % len(COLORS)], label=key, **style)
        if group == "margin":
            ax.axhline(0, color="black", linewidth=0.6)
        ax.set_title(group)
        ax.set_xlabel("step")
        ax.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    return png_base64(fig)
