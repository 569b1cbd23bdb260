"""The small data types that flow through the prepare stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from antrenor.records.problem import Problem

SPLITS = ("train", "validation", "test")


@dataclass
class RawRecord:
    """One record as read from an input, before it is understood.

    `line` is the 1-based line where the record starts (JSONL, JSON, CSV, text) or its
    1-based row number (Parquet, datasets folders); `where` says which.
    """

    source: str
    line: int
    raw: str
    fields: dict[str, Any] | None = None
    problem: Problem | None = None
    split: str | None = None
    unit: str = "line"

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}" if self.unit == "line" else f"{self.source} row {self.line}"


@dataclass
class Record:
    """A valid, normalized record of the detected kind, on its way to a split."""

    index: int  # position in input order; ties are always broken by it
    source: str
    line: int
    unit: str
    data: dict[str, Any]
    split: str | None = None
    token_length: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    raw: str = ""
    dropped: Problem | None = None  # set when a later step rejects the record

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}" if self.unit == "line" else f"{self.source} row {self.line}"


@dataclass
class Reject:
    """A record that did not make it, kept with its reason (nothing is lost)."""

    source: str
    line: int
    unit: str
    problem: Problem
    raw: str

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.source,
            self.unit: self.line,
            "code": self.problem.code,
            "reason": self.problem.reason,
            "fix": self.problem.fix,
            "raw": self.raw,
        }
