"""A sample of production inputs for a person to label: records of the reference's kind with the answer left
empty (label, output, the assistant turn) and the log's `request_id`. `is_labelled` tells which came back
filled in; retraining (pipeline/retrain.py) uses only those."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from antrenor.reporting.files import write_jsonl_atomic


def blank_record(text: str, kind: str) -> dict[str, Any]:
    """A record of `kind` whose input is `text` and whose answer is left for a person to write."""
    if kind == "classification":
        return {"text": text, "label": ""}
    if kind == "pairs":
        return {"text_a": text, "text_b": "", "label": ""}
    if kind == "instruction":
        return {"instruction": text, "input": "", "output": ""}
    if kind == "completion":
        return {"prompt": text, "completion": ""}
    if kind == "chat":
        return {"messages": [{"role": "user", "content": text}, {"role": "assistant", "content": ""}]}
    if kind == "preference":
        return {"prompt": text, "chosen": "", "rejected": ""}
    return {"text": text}


def is_labelled(record: dict[str, Any], kind: str) -> bool:
    filled = lambda value: value not in (None, "", [])  # noqa: E731
    if kind == "classification":
        return filled(record.get("label")) or filled(record.get("labels"))
    if kind == "pairs":
        return filled(record.get("text_b")) and (filled(record.get("label")) or filled(record.get("score")))
    if kind == "instruction":
        return filled(record.get("output"))
    if kind == "completion":
        return filled(record.get("completion"))
    if kind == "chat":
        return any(m.get("role") == "assistant" and filled(m.get("content")) for m in record.get("messages") or [])
    if kind == "preference":
        return filled(record.get("chosen")) and filled(record.get("rejected"))
    return filled(record.get("text"))


def write_to_label(path: Path, production: Any, kind: str, count: int, seed: int) -> int:
    """A seeded sample of the window's inputs, in log order; returns how many were written."""
    chosen = sorted(random.Random(seed).sample(range(len(production.texts)), min(count, len(production.texts))))
    rows = ({**blank_record(production.texts[i], kind), "request_id": production.request_ids[i]} for i in chosen)
    return write_jsonl_atomic(path, rows)
