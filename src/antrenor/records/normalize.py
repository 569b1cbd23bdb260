"""Text normalization, with every kind of change counted for the report.

Romanian note: the letters ș ț are written with a comma below (U+0219, U+021B). Legacy
fonts and keyboards produced ş ţ with a cedilla (U+015F, U+0163), which are Turkish
letters; NFC/NFKC do not map one to the other, so tokenizers see two spellings of every
such word. `fix_cedilla` maps them (on by default for lang: ro).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from pathlib import Path

import yaml

CEDILLA_TO_COMMA = str.maketrans({"\u015f": "\u0219", "\u0163": "\u021b", "\u015e": "\u0218", "\u0162": "\u021a"})
_CEDILLA = re.compile("[\u015f\u0163\u015e\u0162]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_ODD_SPACE = re.compile("[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_LINE_SEPARATOR = re.compile("\r\n|[\r\u2028\u2029\x85]")
_SPACE_RUN = re.compile(" {2,}")
_TRAILING_SPACE = re.compile(" +\n")
_BLANK_LINES = re.compile("\n{3,}")

_DIACRITICS_TO_ASCII = str.maketrans({
    "ă": "a", "â": "a", "î": "i", "ș": "s", "ț": "t", "ş": "s", "ţ": "t",
    "Ă": "A", "Â": "A", "Î": "I", "Ș": "S", "Ț": "T", "Ş": "S", "Ţ": "T",
})


class TextNormalizer:
    """Applies the configured fixes; `changes` counts, per kind of change, the texts it altered."""

    def __init__(self, *, nfc: bool = True, fix_cedilla: bool = True, control_chars: bool = True, whitespace: bool = True):
        self.nfc, self.fix_cedilla = nfc, fix_cedilla
        self.control_chars, self.whitespace = control_chars, whitespace
        self.changes: Counter[str] = Counter()

    def __call__(self, text: str) -> str:
        if self.control_chars:
            text = self._sub(text, _CONTROL, "", "control characters removed", skip_if=text.isprintable())
        if self.whitespace:
            text = self._sub(text, _LINE_SEPARATOR, "\n", "line endings unified (CRLF, CR, U+2028 -> LF)")
            text = self._sub(text, _ZERO_WIDTH, "", "zero-width characters removed")
            text = self._sub(text, _ODD_SPACE, " ", "odd spaces (no-break, thin, ...) -> space")
        if self.nfc and not unicodedata.is_normalized("NFC", text):
            text = unicodedata.normalize("NFC", text)
            self.changes["Unicode NFC composition"] += 1
        if self.fix_cedilla and _CEDILLA.search(text):
            text = text.translate(CEDILLA_TO_COMMA)
            self.changes["cedilla ş ţ -> comma-below ș ț"] += 1
        if self.whitespace:
            text = self._sub(text, _SPACE_RUN, " ", "runs of spaces collapsed")
            text = self._sub(text, _TRAILING_SPACE, "\n", "trailing spaces removed")
            text = self._sub(text, _BLANK_LINES, "\n\n", "3+ newlines -> 2")
            stripped = text.strip()
            if stripped != text:
                self.changes["leading/trailing whitespace trimmed"] += 1
            text = stripped
        return text

    def _sub(self, text: str, pattern: re.Pattern[str], replacement: str, change: str, skip_if: bool = False) -> str:
        if skip_if:
            return text
        new, count = pattern.subn(replacement, text)
        if count:
            self.changes[change] += 1
        return new


def strip_diacritics(text: str) -> str:
    """ă â î ș ț (and the cedilla forms) -> a a i s t: Romanian as typed without diacritics."""
    return text.translate(_DIACRITICS_TO_ASCII)


def normalization_settings(data_folder: str | Path) -> dict[str, bool] | None:
    """The TextNormalizer settings a prepared data folder was made with (its prepare_config.yaml), or None.

    A served model must see production text normalized as its training text was (e.g. cedilla
    ş ţ -> ș ț): export records these settings and serve applies them.
    """
    path = Path(data_folder) / "prepare_config.yaml"
    if not path.is_file():
        return None
    section = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    section = section.get("prepare", section)  # the resolved config: every key is written
    normalize = section.get("normalize") or {}
    return {"nfc": normalize.get("nfc", True),
            "fix_cedilla": fixes_cedilla(normalize.get("fix_cedilla"), section.get("lang")),
            "control_chars": normalize.get("control_chars", True), "whitespace": normalize.get("whitespace", True)}


def fixes_cedilla(setting: bool | None, lang: str | None) -> bool:
    """Whether cedilla ş ţ become comma-below ș ț: as set, else for Romanian text only."""
    if setting is not None:
        return setting
    return (lang or "").lower() == "ro"
