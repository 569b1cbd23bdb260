"""Atomic writes: every output file is written to a temporary name and renamed into place,
so an interrupted run never leaves a half-written file that looks complete."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def write_text_atomic(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    with partial.open("w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
    os.replace(partial, path)


def write_jsonl_atomic(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    count = 0
    with partial.open("w", encoding="utf-8", newline="\n") as handle:
        for row in rows:
            # default=str: extra columns from Parquet/datasets may hold dates or bytes
            handle.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
            count += 1
    os.replace(partial, path)
    return count


def write_json_atomic(path: Path, value: Any) -> None:
    write_text_atomic(path, json.dumps(value, ensure_ascii=False, indent=2) + "\n")
