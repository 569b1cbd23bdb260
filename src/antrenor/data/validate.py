"""Turn a RawRecord into a valid, normalized Record of the chosen kind, or a Problem."""

from __future__ import annotations

from typing import Any

from antrenor.data.readers import known_split
from antrenor.data.records import RawRecord
from antrenor.records.kinds import RecordInvalid, apply_columns, map_texts, text_fields, to_canonical
from antrenor.records.language import load_language_detector
from antrenor.records.normalize import TextNormalizer
from antrenor.records.problem import Problem


class RecordValidator:
    """Validates records of one kind; language detection is loaded only when asked for."""

    def __init__(self, kind: str, columns: dict[str, str], normalizer: TextNormalizer,
                 min_chars: int, language: str | None):
        self.kind, self.columns, self.normalizer = kind, columns, normalizer
        self.min_chars, self.language = min_chars, language
        self._detect_language = load_language_detector() if language else None

    def __call__(self, raw: RawRecord) -> tuple[dict[str, Any] | None, str | None, Problem | None]:
        """(canonical record, split from a split column, problem)."""
        fields = apply_columns(raw.fields or {}, self.columns)
        split = known_split(fields.get("split"))
        try:
            record = to_canonical(fields, self.kind)
        except RecordInvalid as invalid:
            return None, split, invalid.problem
        record = map_texts(record, self.kind, self.normalizer)
        problem = self._check_texts(record)
        return (None, split, problem) if problem else (record, split, None)

    def _check_texts(self, record: dict[str, Any]) -> Problem | None:
        texts = text_fields(record, self.kind)
        required = [t for t in texts if t is not None]
        if self.kind == "instruction":
            required = [record["instruction"], record["output"]]
        shortest = min(required, key=len) if required else ""
        if len(shortest) < max(self.min_chars, 1):
            what = "empty" if not shortest else f"{len(shortest)} characters, under filters.min_chars={self.min_chars}"
            return Problem("too_short", f"a required text field is {what} after normalization",
                           "fill in the text, or lower filters.min_chars")
        if self._detect_language:
            main = max(texts, key=len)
            found = self._detect_language(main) if len(main) >= 20 else self.language
            if found != self.language:
                return Problem("wrong_language", f"detected language '{found}', expected '{self.language}'",
                               "remove the record, or set filters.language to null to keep every language")
        return None

