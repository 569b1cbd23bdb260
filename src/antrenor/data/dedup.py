"""Exact and near-duplicate detection, within the data and across splits.

Records are visited in priority order: training records first, then records with no
split yet, then validation, then test. A record is dropped when it repeats (exactly, or
nearly by MinHash LSH) a record already kept, so a validation or test record can never
near-duplicate a training record: that is the contamination check, and the same pass
does it for pre-split and unsplit data.

Near duplicates use word n-gram shingles hashed with CRC32 and `datasketch.MinHash.bulk`
(about 20x faster than per-record SHA-1 hashing); LSH candidates are confirmed by their
estimated Jaccard similarity so a false positive of the banding never drops a record.
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from antrenor.data.kinds import text_fields
from antrenor.data.records import Record

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
    from datasketch import MinHash, MinHashLSH

    ordered = priority_order(records)
    shingle_sets = [shingles("\n".join(text_fields(r.data, kind)), ngram) for r in ordered]
    hashes = MinHash.bulk(shingle_sets, num_perm=num_perm, seed=seed, hashfunc=zlib.crc32)
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    hashes_by_index = {}
    found = []
    for record, minhash in zip(ordered, hashes):
        best_index, best_similarity = None, 0.0
        for candidate in lsh.query(minhash):
            similarity = minhash.jaccard(hashes_by_index[candidate])
            better = best_index is None or (similarity, -candidate) > (best_similarity, -best_index)
            if similarity >= threshold and better:
                best_index, best_similarity = candidate, similarity
        if best_index is not None:
            found.append(Duplicate(record.index, best_index, round(best_similarity, 3), exact=False))
        else:
            lsh.insert(record.index, minhash)
            hashes_by_index[record.index] = minhash
        progress(1)
    return found
