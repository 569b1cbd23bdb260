"""What a training run leaves beside the model: manifest.json and training_curves.png."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from antrenor.provenance import git_commit, package_versions
from antrenor.reporting.charts import loss_curves_figure
from antrenor.reporting.files import write_json_atomic

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
        "chat_template_kwargs": cfg.chat_template_kwargs,  # also in the saved chat template, as its defaults
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

