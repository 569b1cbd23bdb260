"""Reading the evaluated examples: a prepared split, and seeded samples of it."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any


def read_split(folder: Path, split: str) -> list[dict[str, Any]]:
    path = folder / f"{split}.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def sample(records: list[dict[str, Any]], limit: int | None, seed: int) -> list[dict[str, Any]]:
    """A seeded sample that keeps the file order (so reports read like the data)."""
    if limit is None or len(records) <= limit:
        return records
    chosen = sorted(random.Random(seed).sample(range(len(records)), limit))
    return [records[i] for i in chosen]
