"""Content hashes that decide whether a stage must run again.

A stage's key hashes its resolved config and the content of every existing file or folder its
config names (data, models, reference texts). A folder written by an earlier stage is
represented by that stage's completion stamp (its key and finish time) instead of re-hashing
gigabytes of weights: when the earlier stage runs again, everything after it runs again too.
The stage's own output is not an input. Library versions are not part of the key: after an
upgrade, `--force STAGE` reruns what you want rerun.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from antrenor.reporting.output_folder import MARKER, read_marker, write_marker

STAMP = MARKER  # the marker every stage writes (reporting/output_folder.py); the pipeline adds its key
_CHUNK = 1 << 20


def stage_key(stage: str, config: dict[str, Any], output: str | None, cache: dict[str, str]) -> str:
    """sha256 of the stage name, its config, and the content of every path the config names."""
    inputs = {}
    for value in sorted(set(_strings(config))):
        if value == output or value.strip("./") == "" or len(value) > 4096:
            continue
        path = Path(value)
        if path.exists():
            inputs[value] = fingerprint(path, cache)
    payload = json.dumps({"stage": stage, "config": config, "inputs": inputs}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def fingerprint(path: Path, cache: dict[str, str]) -> str:
    resolved = str(path.resolve())
    if resolved not in cache:
        stamp = read_stamp(path) if path.is_dir() else None
        if stamp is not None:
            cache[resolved] = f"stage:{stamp['key']}:{stamp['finished']}"
        elif path.is_dir():
            cache[resolved] = _folder_hash(path)
        else:
            cache[resolved] = _file_hash(path)
    return cache[resolved]


def read_stamp(folder: Path) -> dict[str, Any] | None:
    try:
        stamp = json.loads((folder / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) and {"key", "finished"} <= stamp.keys() else None


def write_stamp(folder: Path, stage: str, key: str) -> dict[str, Any]:
    """Mark `folder` as the complete output of `stage` for `key`, keeping what the stage's marker says
    (its inputs and the files it wrote)."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = {**(read_marker(folder) or {}), "stage": stage, "key": key,
             "finished": datetime.now(timezone.utc).isoformat(timespec="microseconds")}
    write_marker(folder, stamp)
    return stamp


def _folder_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    # the marker's times change with every run of the same content: what it marks is hashed, not it
    for file in sorted(p for p in folder.rglob("*") if p.is_file() and not _hidden(p.relative_to(folder))
                       and p.name != MARKER):
        digest.update(str(file.relative_to(folder)).encode())
        digest.update(_file_hash(file).encode())
    return digest.hexdigest()


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") or part == "__pycache__" for part in relative.parts)


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _strings(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)
