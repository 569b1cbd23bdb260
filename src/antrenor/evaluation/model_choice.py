"""Which task an evaluation runs and which base it compares with, from the tuned folders' manifests."""

from __future__ import annotations

from typing import Any

from antrenor.errors import ConfigError
from antrenor.models.loading import trained_from

TASK_OF_KIND = {"instruction": "sft", "chat": "sft", "completion": "sft", "classification": "classification",
                "pairs": "classification", "text": "clm", "preference": "preference", "feedback": "preference"}


def infer_task(requested: str, manifests: list[dict[str, Any] | None], data_kind: str) -> str:
    if requested != "auto":
        return requested
    for manifest in manifests:
        if manifest and manifest.get("task"):
            return manifest["task"]
    if data_kind not in TASK_OF_KIND:
        raise ConfigError(f"cannot tell the task from {data_kind} data: set task (sft, classification, clm, mlm, reward, "
                          "preference or rl)")
    return TASK_OF_KIND[data_kind]


def base_model_name(requested: str | None, manifest: dict[str, Any] | None) -> str | None:
    """The base to compare with: as configured, or the model the tuned one was trained from."""
    if requested in (None, "none"):
        return None
    if requested != "auto":
        return requested
    return trained_from(manifest) if manifest else None
