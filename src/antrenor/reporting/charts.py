"""Charts every report draws with: matplotlib set up for reports, deterministic SVG, embedded PNG, the
shared colours, and the train-vs-validation loss curves (the overfitting diagnostic)."""

from __future__ import annotations

import base64
import io
from typing import Any

COLORS = ["#9aa5b1", "#2f6fde", "#e8833a", "#3aa76d", "#b04fc7"]


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "antrenor"  # fixed ids instead of random ones
    plt.rcParams["svg.fonttype"] = "none"  # text stays text: smaller, searchable
    return plt


def figure_svg(fig: Any) -> str:
    plt = pyplot()
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]


def png_base64(fig: Any) -> str:
    """A figure as a base64 PNG, to embed in a self-contained HTML report; the figure is closed."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    pyplot().close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def loss_curves_figure(log_history: list[dict[str, Any]]) -> Any:
    """Train vs validation loss by step (the overfitting diagnostic), or None with nothing logged."""
    train = [(e["step"], e["loss"]) for e in log_history if "loss" in e]
    evaluation = [(e["step"], e["eval_loss"]) for e in log_history if "eval_loss" in e]
    if not train and not evaluation:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    if train:
        ax.plot(*zip(*train), label="train loss")
    if evaluation:
        ax.plot(*zip(*evaluation), marker="o", label="validation loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend(frameon=False)
    ax.set_title("Training curves")
    plt.close(fig)  # the caller saves it; closed figures still render
    return fig


def metric_bars(summary: dict[str, Any], names: list[str]) -> str | None:
    """Each metric, one bar per model, with its bootstrap 95 % interval."""
    models = summary["models"]
    names = [n for n in names if all(n in m["metrics"] for m in models.values())]
    if not names:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, len(names), figsize=(2.6 * len(names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names):
        for i, (label, entry) in enumerate(models.items()):
            figure = entry["metrics"][name]
            low, high = figure["ci95"]
            value = figure["value"]
            error = [[max(0.0, value - low)], [max(0.0, high - value)]] if low == low and high == high else None
            ax.bar(i, value, color=COLORS[i % len(COLORS)], yerr=error, capsize=4, label=label)
        ax.set_title(name)
        ax.set_xticks(range(len(models)), list(models), rotation=20, fontsize=8)
    fig.tight_layout()
    return png_base64(fig)
