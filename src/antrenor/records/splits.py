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


def empty_split_advice(split: str, counts: dict[str, int]) -> str:
    """What to do when `split` has no records, from the split sizes a prepare manifest records."""
    others = [name for name in ("test", "validation") if name != split and counts.get(name)]
    if others:
        return " or ".join(f"--set split={name} ({counts[name]} records)" for name in others)
    total = sum(counts.values())
    return (f"no split but train holds records ({total} in all): give prepare more records (each split needs "
            "round(records x fraction) >= 1) or a test file of its own; --set split=train would only show how well "
            "the model learned its own training records")
