"""What a training run leaves beside the model: manifest.json and training_curves.png."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from antrenor.data.writing import write_json_atomic
from antrenor.provenance import git_commit, package_versions

VERSIONED = ("antrenor", "torch", "transformers", "peft", "trl", "accelerate", "datasets")


def write_manifest(output: Path, cfg: Any, data: Any, task: Any, trainable: int, total: int,
                   metrics: dict[str, Any], interrupted: bool) -> None:
    manifest = {
        "stage": "train",
        "status": "interrupted" if interrupted else "completed",
        "base_model": cfg.model,
        "base_model_location": task.location,
        "task": cfg.task,
        "method": cfg.method,
        "seed": cfg.seed,
        "data": {"folder": str(data.folder), "kind": data.kind, "inputs": data.manifest.get("inputs", []),
                 "prepared_outputs": data.manifest.get("outputs", {})},
        "examples": {"train": len(task.train_features), "validation": len(task.eval_features)},
        "parameters": {"trainable": trainable, "total": total, "trainable_percent": round(100 * trainable / total, 4)},
        "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float))},
        "labels": task.labels,
        "versions": package_versions(VERSIONED),
        "git_commit": git_commit(),
    }
    write_json_atomic(output / "manifest.json", manifest)


def write_training_curves(output: Path, log_history: list[dict[str, Any]]) -> None:
    fig = loss_curves_figure(log_history)
    if fig is None:
        return
    fig.savefig(output / "training_curves.png", dpi=110, bbox_inches="tight")
    fig.clf()


def loss_curves_figure(log_history: list[dict[str, Any]]) -> Any:
    """Train vs validation loss by step (the overfitting diagnostic), or None with nothing logged."""
    from antrenor.data.plots import _pyplot

    train = [(e["step"], e["loss"]) for e in log_history if "loss" in e]
    evaluation = [(e["step"], e["eval_loss"]) for e in log_history if "eval_loss" in e]
    if not train and not evaluation:
        return None
    plt = _pyplot()
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
