"""What each rater sees, in which order: pages of one item with one answer (single mode) or two answers
side by side, shuffled per rater, sides swapped per rater and item. Seeded by the task's seed and the
rater's name, so a reload or a return visit shows the same page with the same labels."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any

LETTERS = "ABCDEFGHIJ"


@dataclass(frozen=True)
class Page:
    item: str
    systems: tuple[str, ...]  # in screen order: the first is "A"

    @property
    def key(self) -> str:
        """Stable page id for URLs and forms: the item and, in single mode, the system (opaque ids only)."""
        return self.item if len(self.systems) > 1 else f"{self.item}.{self.systems[0]}"


def rater_pages(task: dict[str, Any], rater: str) -> list[Page]:
    rng = random.Random(_seed(task["seed"], rater))
    pages = []
    for item in task["items"]:
        systems = sorted(item["answers"])
        if task["mode"] == "side_by_side":
            rng.shuffle(systems)
            pages.append(Page(item["id"], tuple(systems)))
        else:
            pages.extend(Page(item["id"], (system,)) for system in systems)
    rng.shuffle(pages)
    return pages


def _seed(task_seed: int, rater: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{task_seed}:{rater}".encode()).digest()[:8], "big")
