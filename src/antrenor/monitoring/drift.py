"""Drift signals: does what production sends look like what the model was trained on?

Pure functions on lists of texts, labels, scores or embeddings; each returns a `Signal` with its
statistic, the threshold it was held against, a p-value where a test applies, and a verdict
(`ok`, `drift`, `not enough data`, `skipped`). No file or model I/O here (see run.py).

Every verdict needs two things at once: an effect larger than the threshold (so a huge log does not
flag a trivial shift) and a p-value below `alpha` (so a small one does not flag sampling noise).
Tests on texts treat texts, not tokens or letters, as the independent unit: the words of one text
are correlated (a user who skips diacritics skips them everywhere), so letter-level tests would be
far too confident.

Example:
    >>> ref = ["Contractul se încheie în formă scrisă."] * 40
    >>> prod = ["Contractul se incheie in forma scrisa."] * 40
    >>> diacritics_shift(ref, prod).verdict
    'drift'
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

OK, DRIFT, NOT_ENOUGH, SKIPPED = "ok", "drift", "not enough data", "skipped"
COMMA_DIACRITICS = set("ăâîșț")
CEDILLA_DIACRITICS = set("şţ")
_WORD = re.compile(r"[^\W\d_]+")  # letters only: numbers (article numbers, sums) would inflate OOV
MIN_LANGUAGE_CHARS = 20  # langdetect guesses on shorter texts


@dataclass
class Signal:
    """One drift signal's outcome. `series` holds plot data (per-text values), left out of JSON."""

    name: str
    statistic: float | None
    threshold: float
    verdict: str
    p_value: float | None = None
    reference: float | None = None  # the figure on the reference side (rate, share, mean...)
    production: float | None = None
    counts: dict[str, int] = field(default_factory=dict)
    note: str = ""
    series: dict[str, Any] = field(default_factory=dict, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "statistic": self.statistic, "threshold": self.threshold, "p_value": self.p_value,
                "verdict": self.verdict, "reference": self.reference, "production": self.production,
                "counts": self.counts, "note": self.note}


def not_enough(name: str, threshold: float, counts: dict[str, int], minimum: int) -> Signal:
    return Signal(name, None, threshold, NOT_ENOUGH, counts=counts,
                  note=f"needs at least {minimum} inputs on each side to give a verdict")


def decide(effect: float, threshold: float, p_value: float, alpha: float) -> str:
    return DRIFT if effect > threshold and p_value < alpha else OK


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def psi(reference_counts: Sequence[float], production_counts: Sequence[float], smoothing: float = 0.5) -> float:
    """Population stability index: sum (q - p) ln(q / p). Rule of thumb: < 0.1 stable, > 0.25 shifted.

    `smoothing` is added to every count so an empty bin does not make it infinite.
    """
    p = np.asarray(reference_counts, dtype=float) + smoothing
    q = np.asarray(production_counts, dtype=float) + smoothing
    p, q = p / p.sum(), q / q.sum()
    return float(np.sum((q - p) * np.log(q / p)))


def homogeneity_p_value(reference_counts: Sequence[float], production_counts: Sequence[float]) -> float:
    """Chi-square test that two count vectors come from one distribution (empty categories dropped)."""
    from scipy.stats import chi2_contingency

    table = np.array([reference_counts, production_counts], dtype=float)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 1.0
    return float(chi2_contingency(table, correction=False)[1])


def per_text_p_value(reference: Sequence[float], production: Sequence[float], alternative: str = "two-sided") -> float:
    """Mann-Whitney U on per-text values: texts are the independent unit."""
    from scipy.stats import mannwhitneyu

    if len(set(reference) | set(production)) < 2:
        return 1.0
    return float(mannwhitneyu(production, reference, alternative=alternative).pvalue)


def length_shift(reference: Sequence[str], production: Sequence[str], *, unit: str = "words", threshold: float = 0.25,
                 alpha: float = 0.01, min_inputs: int = 30, max_bins: int = 10) -> Signal:
    """PSI of input lengths, bins cut at the reference's quantiles; chi-square p-value on the binned counts.

    Open-ended outer bins catch inputs shorter or longer than the reference's range, so even a
    reference of equal lengths has a bin for "longer than anything seen".

    Fewer bins for small samples (one per 10 production inputs, 2 to `max_bins`): PSI's expected
    value under no drift grows with bins / inputs, and would otherwise cross 0.25 by chance.
    """
    measure = (lambda t: len(t.split())) if unit == "words" else len
    ref, prod = np.array([measure(t) for t in reference]), np.array([measure(t) for t in production])
    counts = {"reference": len(ref), "production": len(prod)}
    if min(len(ref), len(prod)) < min_inputs:
        return not_enough(f"input length ({unit})", threshold, counts, min_inputs)
    bins = int(np.clip(min(len(ref), len(prod)) // 10, 2, max_bins))
    # bins (e_i, e_i+1]; the first holds only inputs shorter than any reference one (lengths are integers)
    edges = np.unique(np.append(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]), ref.min() - 0.5))
    ref_counts = np.bincount(np.searchsorted(edges, ref, side="left"), minlength=len(edges) + 1)
    prod_counts = np.bincount(np.searchsorted(edges, prod, side="left"), minlength=len(edges) + 1)
    value, p_value = psi(ref_counts, prod_counts), homogeneity_p_value(ref_counts, prod_counts)
    return Signal(f"input length ({unit})", value, threshold, decide(value, threshold, p_value, alpha), p_value,
                  float(np.median(ref)), float(np.median(prod)), counts,
                  f"PSI over {len(edges) + 1} bins cut at reference quantiles; reference/production = median length",
                  {"reference": ref.tolist(), "production": prod.tolist(), "unit": unit})


def vocabulary_shift(vocabulary_texts: Sequence[str], held_out: Sequence[str], production: Sequence[str], *,
                     threshold: float = 1.5, alpha: float = 0.01, min_inputs: int = 30) -> Signal:
    """Production OOV rate relative to the reference's own held-out OOV rate (same vocabulary).

    The vocabulary is the lowercased words of `vocabulary_texts` (the train split). Any unseen text
    has some OOV words, so the absolute rate means little; the ratio to held-out reference text does:
    1.0 = as new as the reference's own unseen text. Statistic: that ratio (held-out rate floored at 1 %).
    """
    vocabulary = {w for text in vocabulary_texts for w in words(text)}
    counts = {"vocabulary": len(vocabulary), "held_out": len(held_out), "production": len(production)}
    if min(len(held_out), len(production)) < min_inputs or not vocabulary:
        return not_enough("vocabulary (OOV rate)", threshold, counts, min_inputs)

    def rates(texts: Sequence[str]) -> tuple[float, list[float]]:
        per_text, unseen, total = [], 0, 0
        for text in texts:
            found = words(text)
            missing = sum(1 for w in found if w not in vocabulary)
            unseen, total = unseen + missing, total + len(found)
            if found:
                per_text.append(missing / len(found))
        return unseen / max(total, 1), per_text

    base_rate, base_texts = rates(held_out)
    prod_rate, prod_texts = rates(production)
    ratio = prod_rate / max(base_rate, 0.01)
    p_value = per_text_p_value(base_texts, prod_texts, alternative="greater")
    return Signal("vocabulary (OOV rate)", ratio, threshold, decide(ratio, threshold, p_value, alpha), p_value,
                  base_rate, prod_rate, counts, "statistic = production OOV rate / reference held-out OOV rate")


def _letter_counts(text: str) -> tuple[int, int, int, int]:
    """(letters, comma-below or other Romanian diacritics, cedilla ş ţ, ș ț written either way)."""
    lower = text.lower()
    letters = sum(1 for c in lower if c.isalpha())
    comma = sum(1 for c in lower if c in COMMA_DIACRITICS)
    cedilla = sum(1 for c in lower if c in CEDILLA_DIACRITICS)
    s_t = cedilla + sum(1 for c in lower if c in "șț")
    return letters, comma, cedilla, s_t


def diacritics_shift(reference: Sequence[str], production: Sequence[str], *, threshold: float = 0.3,
                     alpha: float = 0.01, min_inputs: int = 30, min_reference_rate: float = 0.005) -> Signal:
    """Share of letters that are Romanian diacritics (ă â î ș ț, cedilla ş ţ counted too), production vs reference.

    Statistic: |relative change| of the rate (0.3 = 30 % more or fewer). Cedilla forms count as
    diacritics here so a spelling variant is not mistaken for missing ones; `cedilla_shift` reports them.
    """
    counts = {"reference": len(reference), "production": len(production)}
    if min(len(reference), len(production)) < min_inputs:
        return not_enough("Romanian diacritics rate", threshold, counts, min_inputs)
    ref, prod = [_letter_counts(t) for t in reference], [_letter_counts(t) for t in production]
    ref_rate = sum(c[1] + c[2] for c in ref) / max(sum(c[0] for c in ref), 1)
    prod_rate = sum(c[1] + c[2] for c in prod) / max(sum(c[0] for c in prod), 1)
    ref_texts = [(c[1] + c[2]) / c[0] for c in ref if c[0]]
    prod_texts = [(c[1] + c[2]) / c[0] for c in prod if c[0]]
    series = {"reference": ref_texts, "production": prod_texts}
    if ref_rate < min_reference_rate:
        return Signal("Romanian diacritics rate", None, threshold, SKIPPED, None, ref_rate, prod_rate, counts,
                      "the reference has (almost) no Romanian diacritics: not Romanian text", series)
    change = (prod_rate - ref_rate) / ref_rate
    p_value = per_text_p_value(ref_texts, prod_texts)
    return Signal("Romanian diacritics rate", abs(change), threshold, decide(abs(change), threshold, p_value, alpha),
                  p_value, ref_rate, prod_rate, counts, f"relative change {change:+.0%} of diacritics per letter", series)


def cedilla_shift(reference: Sequence[str], production: Sequence[str], *, threshold: float = 0.2,
                  alpha: float = 0.01, min_inputs: int = 30) -> Signal:
    """Share of ș ț written with the (wrong, Turkish) cedilla ş ţ: production minus reference.

    A model trained on comma-below text sees cedilla words as other, rarer tokens. Only texts with
    at least one ș/ț/ş/ţ count; statistic: the absolute difference of the shares.
    """
    ref = [c for c in map(_letter_counts, reference) if c[3]]
    prod = [c for c in map(_letter_counts, production) if c[3]]
    counts = {"reference": len(ref), "production": len(prod)}
    if min(len(ref), len(prod)) < min_inputs:
        return not_enough("cedilla ş ţ share", threshold, counts, min_inputs)
    ref_share = sum(c[2] for c in ref) / sum(c[3] for c in ref)
    prod_share = sum(c[2] for c in prod) / sum(c[3] for c in prod)
    p_value = per_text_p_value([c[2] / c[3] for c in ref], [c[2] / c[3] for c in prod])
    difference = abs(prod_share - ref_share)
    return Signal("cedilla ş ţ share", difference, threshold, decide(difference, threshold, p_value, alpha), p_value,
                  ref_share, prod_share, counts, "share of ș ț written ş ţ, over texts that have any")


def language_shift(reference: Sequence[str], production: Sequence[str], detect: Callable[[str], str] | None, *,
                   threshold: float = 0.1, alpha: float = 0.01, min_inputs: int = 30) -> Signal:
    """Share of inputs in the reference's main language: drift when production's share is lower.

    `detect` maps a text to a language code (langdetect, seeded); None skips the signal. Texts under
    20 characters are left out: detection on them is a guess. Fisher's exact test, one-sided.
    """
    name = "language"
    if detect is None:
        return Signal(name, None, threshold, SKIPPED, note="langdetect is not installed: pip install 'antrenor[lang]'")
    ref = [detect(t) for t in reference if len(t.strip()) >= MIN_LANGUAGE_CHARS]
    prod = [detect(t) for t in production if len(t.strip()) >= MIN_LANGUAGE_CHARS]
    counts = {"reference": len(ref), "production": len(prod)}
    if min(len(ref), len(prod)) < min_inputs:
        return not_enough(name, threshold, counts, min_inputs)
    main = Counter(ref).most_common(1)[0][0]
    ref_in, prod_in = sum(1 for x in ref if x == main), sum(1 for x in prod if x == main)
    from scipy.stats import fisher_exact

    p_value = float(fisher_exact([[ref_in, len(ref) - ref_in], [prod_in, len(prod) - prod_in]], alternative="greater")[1])
    drop = ref_in / len(ref) - prod_in / len(prod)
    others = Counter(x for x in prod if x != main).most_common(3)
    note = f"main language '{main}'" + (f"; production also: {', '.join(f'{k} {v}' for k, v in others)}" if others else "")
    return Signal(name, drop, threshold, decide(drop, threshold, p_value, alpha), p_value,
                  ref_in / len(ref), prod_in / len(prod), counts, note)


def rbf_mmd(x: np.ndarray, y: np.ndarray, *, permutations: int = 500, seed: int = 0) -> tuple[float, float, float]:
    """Unbiased MMD² with an RBF kernel (median-heuristic bandwidth) and its permutation p-value.

    Returns (mmd², p-value, bandwidth²). The kernel matrix is built once; each permutation only
    re-indexes it, so 500 permutations of 400 points take well under a second.
    """
    z = np.vstack([x, y]).astype(np.float64)
    squared = np.sum(z**2, axis=1)
    d2 = np.maximum(squared[:, None] + squared[None, :] - 2 * z @ z.T, 0.0)
    off_diagonal = d2[~np.eye(len(z), dtype=bool)]
    bandwidth2 = float(np.median(off_diagonal)) or 1.0
    kernel = np.exp(-d2 / bandwidth2)
    np.fill_diagonal(kernel, 0.0)
    n, m = len(x), len(y)

    def statistic(is_x: np.ndarray) -> float:
        kx, ky = kernel[np.ix_(is_x, is_x)], kernel[np.ix_(~is_x, ~is_x)]
        kxy = kernel[np.ix_(is_x, ~is_x)]
        return float(kx.sum() / (n * (n - 1)) + ky.sum() / (m * (m - 1)) - 2 * kxy.mean())

    labels = np.arange(n + m) < n
    observed = statistic(labels)
    rng = np.random.default_rng(seed)
    exceed = sum(statistic(rng.permutation(labels)) >= observed for _ in range(permutations))
    return observed, (1 + exceed) / (1 + permutations), bandwidth2


def embedding_shift(reference: np.ndarray, production: np.ndarray, *, alpha: float = 0.01, permutations: int = 500,
                    seed: int = 0, min_inputs: int = 30) -> Signal:
    """Kernel two-sample test (MMD, RBF kernel) on sentence embeddings: verdict from the permutation p-value.

    Chosen over a classifier two-sample test: the permutation p-value is exact at any sample size,
    nothing is fitted (a logistic regression on 384 dimensions and 200 texts overfits, and a
    permutation test around it means refitting hundreds of times), and it is deterministic given the seed.
    """
    name = "embedding (MMD)"
    counts = {"reference": len(reference), "production": len(production)}
    if min(len(reference), len(production)) < min_inputs:
        return not_enough(name, alpha, counts, min_inputs)
    unit = lambda a: a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)  # noqa: E731
    value, p_value, bandwidth2 = rbf_mmd(unit(reference), unit(production), permutations=permutations, seed=seed)
    return Signal(name, value, alpha, DRIFT if p_value < alpha else OK, p_value, counts=counts,
                  note=f"unbiased MMD², RBF kernel, bandwidth² {bandwidth2:.3g} (median heuristic), "
                       f"{permutations} permutations; threshold is on the p-value")


def label_shift(reference_labels: Sequence[Any], predicted: Sequence[Any], *, threshold: float = 0.25,
                alpha: float = 0.01, min_inputs: int = 30) -> Signal:
    """PSI of the predicted-label distribution vs the reference's labels; chi-square p-value."""
    name = "predicted labels"
    counts = {"reference": len(reference_labels), "production": len(predicted)}
    if min(len(reference_labels), len(predicted)) < min_inputs:
        return not_enough(name, threshold, counts, min_inputs)
    ref, prod = Counter(map(str, reference_labels)), Counter(map(str, predicted))
    classes = sorted(set(ref) | set(prod))
    ref_counts, prod_counts = [ref[c] for c in classes], [prod[c] for c in classes]
    value, p_value = psi(ref_counts, prod_counts), homogeneity_p_value(ref_counts, prod_counts)
    unseen = sorted(set(prod) - set(ref))
    note = "PSI over classes" + (f"; labels the reference lacks: {', '.join(unseen)}" if unseen else "")
    return Signal(name, value, threshold, decide(value, threshold, p_value, alpha), p_value, counts=counts, note=note,
                  series={"classes": classes, "reference": ref_counts, "production": prod_counts})


def confidence_shift(scores: Sequence[float], *, threshold: float = 0.1, alpha: float = 0.01,
                     min_inputs: int = 30) -> Signal:
    """Mean top score of the window's older half vs its newer half: drift when confidence fell.

    The older half is the baseline because the reference has no confidences without running the
    model on it (monitor loads no classifier). Blind to a drop present in the whole window; the
    other signals see that one. Statistic: mean(older) - mean(newer); one-sided Mann-Whitney.
    """
    name = "classifier confidence"
    counts = {"production": len(scores)}
    if len(scores) < min_inputs:
        return not_enough(name, threshold, counts, min_inputs)
    half = len(scores) // 2
    older, newer = list(scores[:half]), list(scores[half:])
    drop = float(np.mean(older) - np.mean(newer))
    p_value = per_text_p_value(older, newer, alternative="less")
    return Signal(name, drop, threshold, decide(drop, threshold, p_value, alpha), p_value, float(np.mean(older)),
                  float(np.mean(newer)), {"older": len(older), "newer": len(newer)},
                  "reference = mean top score of the older half of the window, production = the newer half")


def any_drift(signals: Sequence[Signal]) -> bool:
    return any(s.verdict == DRIFT for s in signals)
