"""Production text normalized as the training text was, before the model sees it.

`antrenor prepare` normalizes training data (Unicode NFC, cedilla ş ţ -> comma-below ș ț for
Romanian, control characters, whitespace); a served model must get the same text, or a
legal text typed with cedilla letters reaches the model in a spelling it never saw. The
settings come from the export (`export.json`: `input_normalization`) or, for a folder
`antrenor train` wrote, from the prepare config of its training data. The request log then
records the normalized text: what the model saw, which is what drift monitoring compares.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from antrenor.records.normalize import TextNormalizer, normalization_settings


def input_normalizer(model: str | Path) -> Callable[[str], str] | None:
    """A text -> text function for the served model, or None when no settings are recorded."""
    settings = recorded_settings(Path(model))
    return TextNormalizer(**settings) if settings else None


def recorded_settings(model: Path) -> dict[str, bool] | None:
    """export.json's input_normalization, else the prepare settings of a train folder's data."""
    folder = model_folder(model)
    export = exported(folder)
    if export is not None:
        return export.get("input_normalization")
    manifest = folder / "manifest.json"
    if manifest.is_file():
        data = (json.loads(manifest.read_text(encoding="utf-8")).get("data") or {}).get("folder")
        return normalization_settings(data) if data else None
    return None


def recorded_max_length(model: str | Path) -> int | None:
    """The max_length (tokens) the model was trained with: export.json, else the train folder's train_config.yaml."""
    import yaml

    folder = model_folder(Path(model))
    export = exported(folder)
    if export is not None:
        return export.get("max_length")
    config = folder / "train_config.yaml"
    if config.is_file():
        section = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
        return (section.get("train", section) or {}).get("max_length")
    return None


def model_folder(model: Path) -> Path:
    """The folder of a served model: itself, or the folder holding a served .onnx file."""
    return model.parent if model.suffix == ".onnx" else model


def exported(folder: Path) -> dict | None:
    path = folder / "export.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
