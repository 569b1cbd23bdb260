"""A greedy character-level word-substitution attack on text classifiers.

In the spirit of DeepWordBug (Gao et al. 2018) and TextBugger (Li et al. 2019): find the
words the prediction depends on most, then misspell them, one at a time, in the way that
hurts the true class most, until the predicted label changes. It works offline and for
Romanian without embeddings or synonym lists; the price is that the adversarial text is
visibly misspelled (a typo-robustness probe, not a meaning-preserving paraphrase).

Cost, in texts scored ("queries"): 1 for the original, one per word for the importance
ranking, then at most MAX_CANDIDATES_PER_WORD per word tried. `predict_proba` receives a
list of texts per call and should batch them itself.

Example:
    >>> import numpy as np
    >>> def predict_proba(texts):  # "positive" iff the word "bun" appears
    ...     return np.array([[0.1, 0.9] if "bun" in t.split() else [0.9, 0.1] for t in texts])
    >>> result = attack_text("filmul este bun", 1, predict_proba)
    >>> result.success, result.words_changed, result.adversarial_label
    (True, 1, 0)
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from antrenor.records.normalize import strip_diacritics

PredictProba = Callable[[list[str]], np.ndarray]
MAX_CANDIDATES_PER_WORD = 8  # a long word has ~5 per letter; a seeded sample of 8 (DeepWordBug tries 4 kinds)
ROMANIAN_DIACRITIC_SWAPS = {
    "a": "ă", "ă": "a", "â": "a", "i": "î", "î": "i", "s": "ș", "ș": "s", "ş": "s", "t": "ț", "ț": "t", "ţ": "t",
    "A": "Ă", "Ă": "A", "Â": "A", "I": "Î", "Î": "I", "S": "Ș", "Ș": "S", "Ş": "S", "T": "Ț", "Ț": "T", "Ţ": "T",
}
LOOKALIKES = {"o": "0", "O": "0", "l": "1", "I": "1", "i": "í", "e": "é", "a": "á", "s": "$", "S": "$", "B": "8"}
_WORD_SPLIT = re.compile(r"(\w+)")


@dataclass(frozen=True)
class AttackResult:
    """One attacked text. The labels are the model's predictions on the original and adversarial text."""

    original: str
    adversarial: str
    original_label: int
    adversarial_label: int
    success: bool
    words_changed: int
    queries: int
    skipped: bool = False  # the model already got the original wrong, so it was not attacked


@dataclass(frozen=True)
class AttackSummary:
    """Attack results over many texts. Rates and means are over the attempted (correctly
    classified) texts, mean_words_changed over the successful ones; nan when there are none."""

    attempted: int
    skipped: int
    succeeded: int
    success_rate: float
    mean_words_changed: float
    mean_queries: float
    examples: list[AttackResult] = field(default_factory=list)


def propose_substitutions(word: str) -> list[str]:
    """Misspellings of `word` a reader still recognizes, without repeats or `word` itself.

    Adjacent letters swapped, one letter dropped, a Romanian diacritic removed or added
    (a<->ă, i<->î, s<->ș, t<->ț, and all stripped at once), a look-alike character (o->0,
    l->1, i->í, ...), and the word split in two by a space.
    """
    candidates = []
    for i in range(len(word) - 1):
        if word[i] != word[i + 1]:
            candidates.append(word[:i] + word[i + 1] + word[i] + word[i + 2:])
    if len(word) > 1:  # dropping the only letter would delete the word, not misspell it
        candidates += [word[:i] + word[i + 1:] for i in range(len(word))]
    candidates += [word[:i] + ROMANIAN_DIACRITIC_SWAPS[ch] + word[i + 1:]
                   for i, ch in enumerate(word) if ch in ROMANIAN_DIACRITIC_SWAPS]
    candidates.append(strip_diacritics(word))
    candidates += [word[:i] + LOOKALIKES[ch] + word[i + 1:] for i, ch in enumerate(word) if ch in LOOKALIKES]
    candidates += [word[:i] + " " + word[i:] for i in range(1, len(word))]
    return [c for c in dict.fromkeys(candidates) if c != word]


def attack_text(text: str, true_label: int, predict_proba: PredictProba, max_change_ratio: float = 0.2,
                seed: int = 0) -> AttackResult:
    """Misspell the most important words of `text` until the classifier's label changes.

    `predict_proba` maps a list of texts to an array of class probabilities, one row per
    text; labels are column indices. Texts the model already gets wrong are skipped (attack
    success is only meaningful on correct predictions). Words are ranked by how much the
    true-class probability drops when the word is deleted; each is replaced in turn by the
    substitution that lowers it most (one that changes the label is preferred), and a word
    whose substitutions do not lower it is left alone. The attack gives up after
    max(1, round(max_change_ratio * words)) changed words. `seed` breaks ties in the ranking
    and samples the candidates of long words, so results are reproducible.
    """
    rng = random.Random(seed)
    pieces = _WORD_SPLIT.split(text)  # words at odd positions, the text between them at even ones
    word_positions = list(range(1, len(pieces), 2))
    scores = _score(predict_proba, [text])
    original_label = int(scores[0].argmax())
    queries = 1
    if original_label != true_label:
        return AttackResult(text, text, original_label, original_label, success=False, words_changed=0,
                            queries=queries, skipped=True)

    true_probability = float(scores[0, true_label])
    deletions = [_join(pieces, {position: ""}) for position in word_positions]
    importance = true_probability - _score(predict_proba, deletions)[:, true_label] if deletions else np.array([])
    queries += len(deletions)
    tie_breaks = [rng.random() for _ in word_positions]
    ranking = sorted(range(len(word_positions)), key=lambda w: (-importance[w], tie_breaks[w]))

    budget = max(1, round(max_change_ratio * len(word_positions)))
    words_changed, label = 0, original_label
    for w in ranking:
        if words_changed >= budget or label != true_label:
            break
        position = word_positions[w]
        candidates = _sample_candidates(propose_substitutions(pieces[position]), rng)
        if not candidates:
            continue
        candidate_scores = _score(predict_proba, [_join(pieces, {position: c}) for c in candidates])
        queries += len(candidates)
        best = _most_damaging(candidate_scores, true_label)
        if candidate_scores[best, true_label] >= true_probability:
            continue
        pieces[position] = candidates[best]
        true_probability = float(candidate_scores[best, true_label])
        label = int(candidate_scores[best].argmax())
        words_changed += 1

    return AttackResult(text, "".join(pieces), original_label, label, success=label != true_label,
                        words_changed=words_changed, queries=queries)


def attack_many(texts: Sequence[str], labels: Sequence[int], predict_proba: PredictProba,
                max_change_ratio: float = 0.2, seed: int = 0, limit: int | None = None,
                on_text: Callable[[], None] | None = None) -> AttackSummary:
    """Attack each of the first `limit` texts (all if None) and summarize.

    Every text is attacked with the same `seed`, so each example equals `attack_text` on it
    alone and does not depend on the others.
    """
    if len(texts) != len(labels):
        raise ValueError(f"one label per text needed: {len(texts)} texts, {len(labels)} labels")
    chosen = range(len(texts) if limit is None else min(limit, len(texts)))
    results = []
    for i in chosen:
        results.append(attack_text(texts[i], int(labels[i]), predict_proba, max_change_ratio, seed))
        if on_text:
            on_text()
    attempted = [r for r in results if not r.skipped]
    succeeded = [r for r in attempted if r.success]
    return AttackSummary(
        attempted=len(attempted),
        skipped=len(results) - len(attempted),
        succeeded=len(succeeded),
        success_rate=len(succeeded) / len(attempted) if attempted else float("nan"),
        mean_words_changed=float(np.mean([r.words_changed for r in succeeded])) if succeeded else float("nan"),
        mean_queries=float(np.mean([r.queries for r in attempted])) if attempted else float("nan"),
        examples=results,
    )


def _score(predict_proba: PredictProba, texts: list[str]) -> np.ndarray:
    scores = np.asarray(predict_proba(texts), dtype=float)
    if scores.ndim != 2 or scores.shape[0] != len(texts):
        raise ValueError(f"predict_proba must return one row of class probabilities per text: "
                         f"got shape {scores.shape} for {len(texts)} texts")
    return scores


def _join(pieces: list[str], replacements: dict[int, str]) -> str:
    return "".join(replacements.get(i, piece) for i, piece in enumerate(pieces))


def _sample_candidates(candidates: list[str], rng: random.Random) -> list[str]:
    if len(candidates) <= MAX_CANDIDATES_PER_WORD:
        return candidates
    kept = sorted(rng.sample(range(len(candidates)), MAX_CANDIDATES_PER_WORD))  # keep the proposal order
    return [candidates[i] for i in kept]


def _most_damaging(candidate_scores: np.ndarray, true_label: int) -> int:
    # With 3+ classes the lowest true-class probability can still be the top one while another
    # candidate already flips the label; a flip is the goal, so flips come first.
    flips = np.flatnonzero(candidate_scores.argmax(axis=1) != true_label)
    pool = flips if len(flips) else np.arange(len(candidate_scores))
    return int(pool[candidate_scores[pool, true_label].argmin()])
