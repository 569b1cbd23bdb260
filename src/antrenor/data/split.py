"""Seeded train/validation/test assignment, stratified by label when asked.

Records that arrive with a split keep it. Validation and test splits the input does not
have are carved from the training pool (records marked train plus records with no split),
at the configured fractions of that pool; so plain data gets 80/10/10 and data that came
as train + test gets a validation split carved from its train part.

Stratified quotas use largest remainders, so the split sizes match the fractions overall
even when most labels are small, and every label keeps at least one training record.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict

from antrenor.data.records import Record


def assign_splits(
    records: list[Record], *, validation: float, test: float, seed: int, labels: dict[int, str] | None = None
) -> dict[str, str]:
    """Set `record.split` on every record; return how each split was obtained (for the report).

    `labels` maps record index -> label to stratify by (None: no stratification).
    """
    present = {r.split for r in records if r.split}
    pool = [r for r in records if r.split in (None, "train")]
    wanted = {name: fraction for name, fraction in (("validation", validation), ("test", test))
              if name not in present and fraction > 0}
    origin = {name: "from the input" for name in sorted(present)}
    if wanted and pool:
        groups: dict[str, list[Record]] = defaultdict(list)
        for record in pool:
            groups[(labels or {}).get(record.index, "")].append(record)
        rng = random.Random(seed)
        shuffled = {}
        for key in sorted(groups):
            members = sorted(groups[key], key=lambda r: r.index)
            rng.shuffle(members)
            shuffled[key] = members
        taken = {key: 0 for key in shuffled}
        for name, fraction in wanted.items():
            quotas = _largest_remainder_quotas({k: len(v) for k, v in shuffled.items()}, taken, fraction, len(pool))
            for key, count in quotas.items():
                for record in shuffled[key][taken[key] : taken[key] + count]:
                    record.split = name
                taken[key] += count
            how = f"{fraction:.0%} of the training pool, seeded" + (", stratified by label" if labels else "")
            origin[name] = how
    for record in pool:
        if record.split in (None, "train"):
            record.split = "train"
    origin.setdefault("train", "the rest of the training pool" if wanted else "from the input")
    return origin


def _largest_remainder_quotas(sizes: dict[str, int], taken: dict[str, int], fraction: float, total: int) -> dict[str, int]:
    exact = {key: size * fraction for key, size in sizes.items()}
    capacity = {key: max(0, size - 1 - taken[key]) for key, size in sizes.items()}  # one stays in train
    quotas = {key: min(math.floor(value), capacity[key]) for key, value in exact.items()}
    missing = round(total * fraction) - sum(quotas.values())
    by_remainder = sorted(sizes, key=lambda key: (-(exact[key] - math.floor(exact[key])), key))
    for key in by_remainder:
        if missing <= 0:
            break
        if quotas[key] < capacity[key]:
            quotas[key] += 1
            missing -= 1
    return quotas
