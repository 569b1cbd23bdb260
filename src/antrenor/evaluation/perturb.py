"""Seeded input perturbations: how robust a model is to the Romanian people actually type.

Each perturbation models a real way Romanian input differs from clean training text:

    no_diacritics  ă â î ș ț -> a a i s t. Much Romanian is typed without diacritics
                   (phones without a Romanian keyboard, chat, older forums, SMS).
    cedilla        ș ț -> ş ţ (cedilla). Legacy fonts, keyboards and pre-2007 Windows wrote
                   the Turkish cedilla letters; a lot of web and scanned text still has them,
                   and tokenizers see them as different words.
    typos          typing errors inside words: adjacent letters swapped, a letter dropped,
                   a neighbouring key hit too, a letter doubled.
    casing         ALL CAPS, all lower case, or words capitalized/lowered at random
                   (caps lock, forms that upper-case names, careless chat typing).
    punctuation    punctuation dropped and stray marks added (chat style, speech-to-text).
    whitespace     doubled spaces, tabs, hard line breaks and padding (copy-paste from PDF,
                   e-mail or spreadsheets).

Reproducibility: every example gets its own random generator seeded from
(seed, perturbation name, example index), so a run is repeatable, and adding, removing or
reordering other examples never changes an example's perturbation. The trade-off: two
fields of one record share a generator, so the perturbation of a later field depends on the
earlier ones (a record is perturbed as a unit).

Example:
    >>> perturb_text("Știința și țara", "no_diacritics", seed=0, index=0)
    'Stiinta si tara'
    >>> perturb_record({"text": "Școala și țara", "label": 1}, "classification", "cedilla", seed=0, index=3)
    {'text': 'Şcoala şi ţara', 'label': 1}
"""

from __future__ import annotations

import copy
import random
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from antrenor.records.kinds import map_texts
from antrenor.records.normalize import CEDILLA_TO_COMMA, strip_diacritics

Perturbation = Callable[[str, random.Random, float], str]

# The inverse of the normalizer's cedilla fix, so the two cannot drift apart.
COMMA_TO_CEDILLA = {ord(comma): chr(cedilla) for cedilla, comma in CEDILLA_TO_COMMA.items()}

# Keys next to each letter on a QWERTY keyboard (the Romanian Standard layout keeps QWERTY letters).
QWERTY_NEIGHBOURS = {
    "q": "wa", "w": "qes", "e": "wrd", "r": "etf", "t": "ryg", "y": "tuh", "u": "yij", "i": "uok",
    "o": "ipl", "p": "ol", "a": "qsz", "s": "adwx", "d": "sfec", "f": "dgrv", "g": "fhtb",
    "h": "gjyn", "j": "hkum", "k": "jli", "l": "ko", "z": "asx", "x": "zsc", "c": "xdv",
    "v": "cfb", "b": "vgn", "n": "bhm", "m": "nj",
}
INSERTED_MARKS = ",.;!?"
_LETTER_RUN = re.compile(r"[^\W\d_]+")  # letters only: no digits, no underscore
_WORD = re.compile(r"\w+")


def perturb_no_diacritics(text: str, rng: random.Random, rate: float) -> str:
    """Every Romanian diacritic stripped; `rng` and `rate` are unused (people either have the keyboard or not)."""
    return strip_diacritics(text)


def perturb_cedilla(text: str, rng: random.Random, rate: float) -> str:
    """Every comma-below ș ț Ș Ț written with the legacy cedilla; `rng` and `rate` are unused."""
    return text.translate(COMMA_TO_CEDILLA)


def perturb_typos(text: str, rng: random.Random, rate: float) -> str:
    """Each word of 3+ letters gets, with probability `rate`, one typing error.

    The first letter is kept: it is the one people mistype least and readers rely on most,
    so an error there would model misspelling more than mistyping.
    """
    def mistype(match: re.Match[str]) -> str:
        word = match.group()
        if len(word) < 3 or rng.random() >= rate:
            return word
        return _mistype_word(word, rng)

    return _LETTER_RUN.sub(mistype, text)


def _mistype_word(word: str, rng: random.Random) -> str:
    swappable = [i for i in range(1, len(word) - 1) if word[i] != word[i + 1]]
    error = rng.choice(("swap", "drop", "neighbour", "double"))
    if error == "swap" and not swappable:  # e.g. "aaa": a swap would change nothing
        error = "drop"
    if error == "swap":
        i = rng.choice(swappable)
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    i = rng.randrange(1, len(word))
    if error == "drop":
        return word[:i] + word[i + 1:]
    if error == "neighbour":
        keys = QWERTY_NEIGHBOURS.get(strip_diacritics(word[i]).lower())
        if keys:  # a letter off the QWERTY map (e.g. ß) falls through to doubling
            key = rng.choice(keys)
            return word[:i] + (key.upper() if word[i].isupper() else key) + word[i:]
    return word[:i] + word[i] + word[i:]


def perturb_casing(text: str, rng: random.Random, rate: float) -> str:
    """A third of texts ALL CAPS, a third all lower case, the rest with words re-cased at `rate`.

    Note that `rate` only governs the last third: at rate 0 two texts in three still change.
    """
    mode = rng.randrange(3)
    if mode == 0:
        return text.upper()
    if mode == 1:
        return text.lower()

    def flip(match: re.Match[str]) -> str:
        word = match.group()
        if rng.random() >= rate:
            return word
        return word.lower() if word[:1].isupper() else word.capitalize()

    return _LETTER_RUN.sub(flip, text)


def perturb_punctuation(text: str, rng: random.Random, rate: float) -> str:
    """Each punctuation mark (any Unicode P* character, so „ » – too) dropped with probability
    `rate`; after each word a stray mark from ",.;!?" with probability rate/3."""
    kept = "".join(ch for ch in text if not (unicodedata.category(ch).startswith("P") and rng.random() < rate))

    def add_mark(match: re.Match[str]) -> str:
        return match.group() + rng.choice(INSERTED_MARKS) if rng.random() < rate / 3 else match.group()

    return _WORD.sub(add_mark, kept)


def perturb_whitespace(text: str, rng: random.Random, rate: float) -> str:
    """Each space, with probability `rate`, becomes a hard line break, else (again at `rate`)
    2-3 spaces or a tab; 1-3 spaces padded before and after, each with probability `rate`.

    The padding follows `rate` like everything else, so rate 0 leaves the text untouched.
    """
    def respace(match: re.Match[str]) -> str:
        breaks_line, widens = rng.random() < rate, rng.random() < rate
        if breaks_line:
            return "\n"
        return rng.choice(("  ", "   ", "\t")) if widens else " "

    spaced = re.sub(" ", respace, text)
    before = " " * rng.randint(1, 3) if rng.random() < rate else ""
    after = " " * rng.randint(1, 3) if rng.random() < rate else ""
    return before + spaced + after


PERTURBATIONS: dict[str, Perturbation] = {
    "no_diacritics": perturb_no_diacritics,
    "cedilla": perturb_cedilla,
    "typos": perturb_typos,
    "casing": perturb_casing,
    "punctuation": perturb_punctuation,
    "whitespace": perturb_whitespace,
}


def perturb_text(text: str, name: str, seed: int, index: int, rate: float = 0.1) -> str:
    """`text` perturbed by the perturbation `name`, reproducibly for (seed, name, index)."""
    return _find_perturbation(name, rate)(text, _example_rng(seed, name, index), rate)


def perturb_record(record: dict[str, Any], kind: str, name: str, seed: int, index: int,
                   rate: float = 0.1) -> dict[str, Any]:
    """A perturbed copy of `record`: only what a user types changes (the instruction and input,
    the prompt, user messages, a classified text), never the reference answer or the label.

    `record` is in the canonical form of its `kind` (see antrenor.records.kinds) and is not
    modified; the copy shares nothing with it. For a record with one user-side field the
    result equals `perturb_text` on that field.
    """
    perturb = _find_perturbation(name, rate)
    rng = _example_rng(seed, name, index)
    return map_texts(copy.deepcopy(record), kind, lambda text: perturb(text, rng, rate), user_side_only=True)


def _example_rng(seed: int, name: str, index: int) -> random.Random:
    # String seeds are hashed with SHA-512 by `random`, so this is stable across runs and
    # Python processes (unlike hash()), and independent of every other example.
    return random.Random(f"{seed}:{name}:{index}")


def _find_perturbation(name: str, rate: float) -> Perturbation:
    if name not in PERTURBATIONS:
        raise ValueError(f"unknown perturbation {name!r}; known: {', '.join(PERTURBATIONS)}")
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be between 0 and 1, got {rate}")
    return PERTURBATIONS[name]
