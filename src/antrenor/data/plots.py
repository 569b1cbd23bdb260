"""Deterministic SVG plots for reports (same data -> byte-identical SVG)."""

from __future__ import annotations

from antrenor.reporting.charts import figure_svg, pyplot


def length_histogram_svg(lengths_by_split: dict[str, list[int]], max_length: int | None) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    everything = [n for values in lengths_by_split.values() for n in values]
    bins = min(50, max(5, len(set(everything))))
    for split, values in lengths_by_split.items():
        if values:
            ax.hist(values, bins=bins, range=(0, max(everything)), alpha=0.55, label=f"{split} ({len(values)})")
    if max_length:
        ax.axvline(max_length, color="black", linestyle="--", linewidth=1, label=f"max_length {max_length}")
    ax.set_xlabel("tokens per record")
    ax.set_ylabel("records")
    ax.legend(frameon=False, fontsize=8)
    ax.set_title("Token lengths")
    return figure_svg(fig)


def label_bars_svg(labels_by_split: dict[str, dict[str, int]]) -> str:
    plt = pyplot()
    labels = sorted({label for counts in labels_by_split.values() for label in counts})
    fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(labels) + 2), 3.4))
    width = 0.8 / max(1, len(labels_by_split))
    for offset, (split, counts) in enumerate(labels_by_split.items()):
        positions = [i + offset * width for i in range(len(labels))]
        ax.bar(positions, [counts.get(label, 0) for label in labels], width=width, label=split)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(labels))])
    ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("records")
    ax.legend(frameon=False, fontsize=8)
    ax.set_title("Labels per split")
    return figure_svg(fig)
