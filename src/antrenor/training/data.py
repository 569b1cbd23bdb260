"""Reading a prepared data folder (the output of `antrenor prepare`), and the reference text."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from antrenor.errors import ConfigError, DataError

REFERENCE_TEXT = "general_ro.txt"


@dataclass
class PreparedData:
    folder: Path
    kind: str
    manifest: dict[str, Any]
    train: list[dict[str, Any]]
    validation: list[dict[str, Any]]

    @property
    def labels(self) -> list[Any]:
        """Every label in train, in a stable order (integers numerically, strings alphabetically)."""
        found = {label for record in self.train for label in record.get("labels", [record.get("label")]) if label is not None}
        return sorted(found, key=lambda label: (isinstance(label, str), label))


def check_prepared_folder(folder: str, kinds: tuple[str, ...], task: str) -> list[str]:
    """Problems with a data folder, known without reading the records."""
    path = Path(folder)
    manifest = path / "manifest.json"
    if not path.is_dir():
        return [f"data folder {folder} does not exist; create it with: antrenor prepare --input FILE --output {folder}"]
    if not manifest.is_file():
        return [f"{folder} has no manifest.json: it is not an `antrenor prepare` output; run prepare on it first"]
    kind = json.loads(manifest.read_text(encoding="utf-8")).get("kind")
    if kind not in kinds:
        return [f"{folder} holds {kind} records, but task {task} needs {' or '.join(kinds)} records"]
    return []


def load_prepared(folder: str) -> PreparedData:
    path = Path(folder)
    manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    splits = {name: _read_jsonl(path / f"{name}.jsonl") for name in ("train", "validation")}
    if not splits["train"]:
        raise DataError(f"{path / 'train.jsonl'} is empty: nothing to train on")
    return PreparedData(path, manifest["kind"], manifest, splits["train"], splits["validation"])


def reference_lines(path: str | None, limit: int | None = None) -> list[str]:
    """General text, one sample a line: a user file, or the Romanian sentences shipped with antrenor."""
    if path is None:
        text = resources.files("antrenor.resources").joinpath(REFERENCE_TEXT).read_text(encoding="utf-8")
    else:
        source = Path(path)
        if not source.is_file():
            raise ConfigError(f"reference text {path} does not exist")
        text = source.read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[:limit] if limit else lines


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
