"""Checkpoint integrity: a checkpoint counts only when its completion marker says so.

The Trainer writes checkpoint-N/ file by file. After it finishes, antrenor writes
`antrenor_complete.json` (file names and sizes) through a temporary file and a rename, the
commit step of the checkpoint. A folder without a valid marker, or whose files no longer
match it (truncated by a crash or a full disk), is partial and is skipped on --resume.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

MARKER = "antrenor_complete.json"
_STEP = re.compile(r"^checkpoint-(\d+)$")


def mark_complete(folder: Path, step: int) -> None:
    files = {p.relative_to(folder).as_posix(): p.stat().st_size for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MARKER}
    partial = folder / f".{MARKER}.partial"
    partial.write_text(json.dumps({"step": step, "files": files}, indent=1), encoding="utf-8")
    os.replace(partial, folder / MARKER)


def is_complete(folder: Path) -> bool:
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        return all((folder / name).is_file() and (folder / name).stat().st_size == size
                   for name, size in marker["files"].items()) and bool(marker["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return False


def checkpoints(folder: Path) -> list[Path]:
    """Checkpoint folders, newest step first."""
    found = [(int(m.group(1)), p) for p in folder.glob("checkpoint-*") if p.is_dir() and (m := _STEP.match(p.name))]
    return [p for _, p in sorted(found, reverse=True)]


def latest_complete_checkpoint(folder: Path) -> tuple[Path | None, list[Path]]:
    """The newest complete checkpoint, and the partial ones skipped on the way."""
    skipped = []
    for candidate in checkpoints(folder):
        if is_complete(candidate):
            return candidate, skipped
        skipped.append(candidate)
    return None, skipped
