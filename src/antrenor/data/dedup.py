"""Exact and near-duplicate detection, within the data and across splits.

Records are visited in priority order: training records first, then records with no
split yet, then validation, then test. A record is dropped when it repeats (exactly, or
nearly by MinHash LSH) a record already kept, so a validation or test record can never
near-duplicate a training record: that is the contamination check, and the same pass
does it for pre-split and unsplit data.

Near duplicates use word n-gram shingles hashed once with CRC32 (about 20x faster than
datasketch's default SHA-1), MinHash LSH to find candidates, and the exact Jaccard similarity
of the shingle sets to decide, so neither a false positive of the banding nor the noise of
the MinHash estimate ever drops a record.
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from antrenor.data.records import Record
from antrenor.records.kinds import text_fields

# (false positive, false negative) weights for choosing LSH bands: at the threshold a true
# near-duplicate becomes a candidate with probability ~0.93 instead of ~0.45 for (0.5, 0.5).
LSH_WEIGHTS = (0.05, 0.95)
SPLIT_PRIORITY = {"train": 0, None: 1, "validation": 2, "test": 3}
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Duplicate:
    index: int  # the dropped record
    of: int  # the kept record it repeats
    similarity: float  # 1.0 for exact
    exact: bool


def priority_order(records: list[Record]) -> list[Record]:
    return sorted(records, key=lambda r: (SPLIT_PRIORITY[r.split], r.index))


def exact_key(record: Record, kind: str) -> str:
    """Classification keys on the text alone: the same text twice with two labels is a conflict."""
    if kind == "classification":
        content = record.data["text"]
    else:
        content = json.dumps([record.data.get(k) for k in sorted(record.data)], ensure_ascii=False)
    return hashlib.blake2b(content.encode("utf-8"), digest_size=16).hexdigest()


def find_exact_duplicates(records: list[Record], kind: str) -> list[Duplicate]:
    first_seen: dict[str, int] = {}
    found = []
    for record in priority_order(records):
        key = exact_key(record, kind)
        if key in first_seen:
            found.append(Duplicate(record.index, first_seen[key], 1.0, exact=True))
        else:
            first_seen[key] = record.index
    return found


def shingles(text: str, ngram: int) -> set[bytes]:
    words = _WORD.findall(text.lower())
    if len(words) <= ngram:
        return {" ".join(words).encode("utf-8")}
    return {" ".join(words[i : i + ngram]).encode("utf-8") for i in range(len(words) - ngram + 1)}


def shingle_hashes(text: str, ngram: int) -> np.ndarray:
    """The record's shingles as sorted unique 32-bit hashes: 4 bytes each, kept for exact Jaccard."""
    return np.unique(np.fromiter((zlib.crc32(s) for s in shingles(text, ngram)), dtype=np.uint32))


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    shared = np.intersect1d(a, b, assume_unique=True).size
    return shared / (a.size + b.size - shared)


def find_near_duplicates(
    records: list[Record],
    kind: str,
    *,
    threshold: float,
    ngram: int,
    num_perm: int,
    seed: int = 1,
    progress: Callable[[int], None] = lambda n: None,
) -> list[Duplicate]:
    """LSH proposes candidates (tuned to miss few: a false candidate only costs one exact check);
    the exact Jaccard similarity of the shingle sets decides."""
    from datasketch import MinHash, MinHashLSH

    ordered = priority_order(records)
    hashed = [shingle_hashes("\n".join(text_fields(r.data, kind)), ngram) for r in ordered]
    # A generator, not a list: the Python-int copies of the hashes then live one record at a time.
    minhashes = MinHash.bulk((h.tolist() for h in hashed), num_perm=num_perm, seed=seed, hashfunc=int)
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=LSH_WEIGHTS)
    kept_hashes: dict[int, np.ndarray] = {}
    found = []
    for record, shingle_set, minhash in zip(ordered, hashed, minhashes):
        best_index, best_similarity = None, 0.0
        for candidate in lsh.query(minhash):
            similarity = jaccard(kept_hashes[candidate], shingle_set)
            better = best_index is None or (similarity, -candidate) > (best_similarity, -best_index)
            if similarity >= threshold and better:
                best_index, best_similarity = candidate, similarity
        if best_index is not None:
            found.append(Duplicate(record.index, best_index, round(best_similarity, 3), exact=False))
        else:
            lsh.insert(record.index, minhash)
            kept_hashes[record.index] = shingle_set
        progress(1)
    return found
