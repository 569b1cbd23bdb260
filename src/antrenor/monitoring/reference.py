"""The two sides the monitor compares: the reference (a prepared data folder) and production
(the request log's inputs), each reduced to the text a user typed.

The reference's input text per kind: classification/text `text`, pairs `text_a`, instruction
`instruction` + `input` (as the chat user turn is built for training), completion `prompt`, chat and
preference the user turns. Production: the log's `inputs` column (classify: each input; chat: the
last user message; completions: the prompt), rows with status 200 only.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from antrenor.errors import ConfigError
from antrenor.monitoring.config import MonitorConfig

SPLITS = ("train", "validation", "test")
ENDPOINTS_BY_KIND = {
    "classification": ["/v1/classify"], "pairs": ["/v1/classify"],
    "instruction": ["/v1/chat/completions", "/v1/completions"], "chat": ["/v1/chat/completions", "/v1/completions"],
    "completion": ["/v1/chat/completions", "/v1/completions"], "preference": ["/v1/chat/completions", "/v1/completions"],
    "text": ["/v1/completions"],
}
HELD_OUT_SHARE = 0.2  # carved from train when the reference has no validation/test split


def input_texts(record: dict[str, Any], kind: str) -> list[str]:
    """What a user would send the served model, for one reference record."""
    if kind in ("classification", "text"):
        texts = [record.get("text")]
    elif kind == "pairs":
        texts = [record.get("text_a")]
    elif kind == "instruction":
        texts = [record["instruction"] + (f"\n\n{record['input']}" if record.get("input") else "")]
    elif kind == "completion":
        texts = [record.get("prompt")]
    else:  # chat, preference: every user turn
        turns = record.get("messages") or record.get("prompt")
        texts = [turns] if isinstance(turns, str) else [m["content"] for m in turns or [] if m.get("role") == "user"]
    return [t for t in texts if isinstance(t, str) and t.strip()]


@dataclass
class Reference:
    folder: Path
    kind: str
    texts: list[str]  # every split
    texts_by_split: dict[str, list[str]]
    labels: list[Any]  # classification: every split's labels (multi-label: each label)

    def vocabulary_and_held_out(self, seed: int) -> tuple[list[str], list[str]]:
        """(texts the vocabulary is built from, held-out texts for the baseline OOV rate)."""
        train = self.texts_by_split.get("train", [])
        held_out = self.texts_by_split.get("validation", []) + self.texts_by_split.get("test", [])
        if held_out:
            return train, held_out
        order = list(range(len(train)))
        random.Random(seed).shuffle(order)
        cut = int(len(train) * HELD_OUT_SHARE)
        return [train[i] for i in order[cut:]], [train[i] for i in order[:cut]]


def read_reference(folder: Path) -> Reference:
    manifest_path = folder / "manifest.json"
    try:
        kind = json.loads(manifest_path.read_text(encoding="utf-8"))["kind"]
    except (OSError, ValueError, KeyError):
        raise ConfigError(f"{folder} is not an `antrenor prepare` output (no readable manifest.json with a kind)") from None
    by_split, labels = {}, []
    for split in SPLITS:
        path = folder / f"{split}.jsonl"
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()] \
            if path.is_file() else []
        by_split[split] = [t for r in records for t in input_texts(r, kind)]
        if kind == "classification":
            labels += [label for r in records for label in (r["labels"] if "labels" in r else [r.get("label")])
                       if label is not None]
    texts = [t for split in SPLITS for t in by_split[split]]
    if not texts:
        raise ConfigError(f"{folder} holds no {kind} records with input text: nothing to compare production with")
    return Reference(folder, kind, texts, by_split, labels)


@dataclass
class ProductionInputs:
    """Production inputs in log order, one entry per input (a classify request may hold several)."""

    texts: list[str] = field(default_factory=list)
    request_ids: list[int] = field(default_factory=list)
    created_at: list[str] = field(default_factory=list)
    predicted: list[Any] = field(default_factory=list)  # classify outputs only
    confidences: list[float] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    endpoints: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_used: int = 0

    def time_range(self) -> str:
        return f"{self.created_at[0]} to {self.created_at[-1]}" if self.created_at else "no rows"

    def describe(self, cfg: MonitorConfig) -> dict[str, Any]:
        return {"log": cfg.log, "since": cfg.since, "window": cfg.window, "endpoints": self.endpoints,
                "rows_read": self.rows_read, "rows_used": self.rows_used, "inputs": len(self.texts),
                "classified": len(self.predicted), "skipped_rows": self.skipped,
                "first": self.created_at[0] if self.created_at else None,
                "last": self.created_at[-1] if self.created_at else None}


def read_production(log_path: str, kind: str, endpoints: list[str] | None, since: str | None,
                    window: int | None) -> ProductionInputs:
    """The last `window` inputs of status-200 rows of the chosen endpoints, oldest first."""
    from antrenor.records.request_log import open_read_only

    log = open_read_only(log_path)
    try:
        rows = log.rows(since=since)
    finally:
        log.close()
    wanted = endpoints or ENDPOINTS_BY_KIND.get(kind, [])
    found = ProductionInputs(endpoints=list(wanted), rows_read=len(rows))
    entries = []
    for row in rows:
        reason = "status not 200" if row["status"] != 200 else "other endpoint" if row["endpoint"] not in wanted else None
        if reason:
            found.skipped[reason] = found.skipped.get(reason, 0) + 1
            continue
        outputs = row["outputs"] if isinstance(row["outputs"], list) else []
        for position, text in enumerate(row["inputs"] if isinstance(row["inputs"], list) else []):
            if isinstance(text, str) and text.strip():
                output = outputs[position] if position < len(outputs) else None
                entries.append((row["id"], row["created_at"], text, output))
    if window:
        entries = entries[-window:]
    for request_id, created_at, text, output in entries:
        found.texts.append(text)
        found.request_ids.append(request_id)
        found.created_at.append(created_at)
        if isinstance(output, dict) and output.get("label") is not None:
            found.predicted.append(output["label"])
            score = _top_score(output)
            if score is not None:
                found.confidences.append(score)
    found.rows_used = len(set(found.request_ids))
    return found


def _top_score(output: dict[str, Any]) -> float | None:
    """The predicted label's score; else the highest of `scores`; None when the output has neither."""
    if isinstance(output.get("score"), (int, float)):
        return float(output["score"])
    scores = output.get("scores")
    values = scores.values() if isinstance(scores, dict) else scores if isinstance(scores, list) else []
    numbers = [float(v) for v in values if isinstance(v, (int, float))]
    return max(numbers) if numbers else None
