"""Statistics for comparing models scored on the same examples.

Metrics are passed as functions of an index array rather than as per-example scores, so a
corpus-level metric (BLEU, macro F1) is recomputed on every resample instead of being
averaged from sentence scores, which would be a different metric.

Which test to use:
    paired_bootstrap_pvalue   any metric, corpus-level included (Koehn 2004); cost is
                              `samples` evaluations of each metric.
    paired_permutation_pvalue per-example scores whose mean is the metric (accuracy, exact
                              match, sentence BLEU averaged); cheaper and exact on small sets.
    sign_test_pvalue          wins against losses (a judge's verdicts, margins that rose or fell):
                              only the direction of each paired difference counts.

Example:
    >>> import numpy as np
    >>> correct = np.array([1, 1, 0, 1, 1, 1, 0, 1, 1, 1], dtype=float)
    >>> low, high = bootstrap_ci(lambda idx: correct[idx].mean(), n_items=len(correct))
    >>> bool(low < correct.mean() < high)
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

IndexMetric = Callable[[np.ndarray], float]
EXACT_PERMUTATION_MAX_ITEMS = 12  # 2**12 = 4096 sign flips: cheaper than sampling 10,000
_PERMUTATION_CHUNK = 1_000_000  # sign-flip matrix entries per chunk, bounds memory on large sets


def bootstrap_ci(metric: IndexMetric, n_items: int, samples: int = 1000, seed: int = 0,
                 confidence: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of `metric` over `n_items` examples.

    `metric` receives an array of example indices drawn with replacement and returns the
    metric on those examples. The percentile interval is simple and needs no assumption of
    normality, but is slightly too narrow on small sets (a few dozen items); a NaN from
    `metric` on any resample makes the interval NaN rather than being silently skipped.
    0 items give (nan, nan); 1 item gives (value, value).
    """
    _check_samples(samples)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1 (exclusive), got {confidence}")
    if n_items == 0:
        return float("nan"), float("nan")
    if n_items == 1:
        value = float(metric(np.zeros(1, dtype=int)))
        return value, value
    rng = np.random.default_rng(seed)
    values = np.array([metric(rng.integers(0, n_items, size=n_items)) for _ in range(samples)], dtype=float)
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def paired_bootstrap_pvalue(metric_a: IndexMetric, metric_b: IndexMetric, n_items: int,
                            samples: int = 1000, seed: int = 0) -> float:
    """Two-sided p-value that systems A and B score the same, by paired bootstrap (Koehn 2004).

    Both metrics see the same resampled indices, so the variation shared by the two systems
    (hard examples are hard for both) cancels out. The p-value is twice the share of
    resamples whose difference is not on the side of the observed one (ties count against
    significance), add-one smoothed so it is never 0, capped at 1. Equal observed scores
    give 1.0; 0 items give nan; 1 item gives 1.0 (one example cannot show a difference).
    """
    _check_samples(samples)
    if n_items == 0:
        return float("nan")
    everything = np.arange(n_items)
    observed = float(metric_a(everything)) - float(metric_b(everything))
    if observed == 0.0 or n_items == 1:
        return 1.0
    rng = np.random.default_rng(seed)
    against = 0
    for _ in range(samples):
        indices = rng.integers(0, n_items, size=n_items)
        difference = float(metric_a(indices)) - float(metric_b(indices))
        against += difference * np.sign(observed) <= 0.0
    return min(1.0, 2 * (against + 1) / (samples + 1))


def paired_permutation_pvalue(scores_a: Sequence[float] | np.ndarray, scores_b: Sequence[float] | np.ndarray,
                              samples: int = 10000, seed: int = 0) -> float:
    """Two-sided p-value that per-example scores A and B have the same mean (approximate randomization).

    Under "no difference" swapping A and B on any example is as likely as not, i.e. each
    per-example difference may flip its sign. The p-value is the share of sign flips whose
    mean difference is at least as far from 0 as the observed one. With up to 12 examples
    all 2**n flips are enumerated (exact); above that `samples` random flips are drawn and
    the estimate is add-one smoothed, (k + 1) / (samples + 1), so it is never 0.
    Empty input gives nan.
    """
    _check_samples(samples)
    scores_a, scores_b = _paired_arrays(scores_a, scores_b)
    differences = scores_a - scores_b
    n_items = len(differences)
    if n_items == 0:
        return float("nan")
    observed = abs(differences.mean())
    # Float noise in the means must not turn an equally extreme flip into a less extreme one.
    threshold = observed - 1e-12 * max(1.0, observed)
    if n_items <= EXACT_PERMUTATION_MAX_ITEMS:
        every_flip = 1 - 2 * ((np.arange(2**n_items)[:, None] >> np.arange(n_items)) & 1)
        as_extreme = np.abs((every_flip * differences).mean(axis=1)) >= threshold
        return float(as_extreme.mean())
    rng = np.random.default_rng(seed)
    as_extreme, done = 0, 0
    rows_per_chunk = max(1, _PERMUTATION_CHUNK // n_items)
    while done < samples:
        rows = min(rows_per_chunk, samples - done)
        flips = rng.choice((-1.0, 1.0), size=(rows, n_items))
        as_extreme += int((np.abs((flips * differences).mean(axis=1)) >= threshold).sum())
        done += rows
    return (as_extreme + 1) / (samples + 1)


def sign_test_pvalue(wins: int, losses: int) -> float:
    """Two-sided exact sign test that wins and losses are equally likely (ties left out, as the test does).

    The p-value is twice the binomial(wins + losses, 1/2) tail at the smaller count, capped at 1. No
    decided pair (all ties) gives 1.0: nothing shows a difference.
    """
    decided = wins + losses
    if decided == 0:
        return 1.0
    tail = sum(math.comb(decided, k) for k in range(min(wins, losses) + 1))
    return min(1.0, 2 * tail / 2**decided)


def auroc(in_scores: Sequence[float] | np.ndarray, out_scores: Sequence[float] | np.ndarray) -> float:
    """Area under the ROC curve for telling out-of-distribution inputs from in-distribution ones.

    A higher score must mean "more out of distribution" (e.g. negative max softmax, energy,
    perplexity). 1.0 separates perfectly, 0.5 is chance, below 0.5 the score points the wrong
    way. nan if either side is empty.
    """
    from sklearn.metrics import roc_auc_score  # lazy: only this function needs scikit-learn, which is slow to import

    in_scores, out_scores = np.asarray(in_scores, dtype=float), np.asarray(out_scores, dtype=float)
    if len(in_scores) == 0 or len(out_scores) == 0:
        return float("nan")
    is_out = np.concatenate([np.zeros(len(in_scores)), np.ones(len(out_scores))])
    return float(roc_auc_score(is_out, np.concatenate([in_scores, out_scores])))


def mean_std(values: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1, the spread across e.g. seeds); std 0.0 for
    one value, (nan, nan) for none."""
    array = np.asarray(values, dtype=float)
    if len(array) == 0:
        return float("nan"), float("nan")
    if len(array) == 1:
        return float(array[0]), 0.0
    return float(array.mean()), float(array.std(ddof=1))


def _paired_arrays(scores_a: Sequence[float] | np.ndarray,
                   scores_b: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    array_a, array_b = np.asarray(scores_a, dtype=float), np.asarray(scores_b, dtype=float)
    if array_a.shape != array_b.shape or array_a.ndim != 1:
        raise ValueError(f"paired scores need one score per example for both systems: "
                         f"shapes {array_a.shape} and {array_b.shape}")
    return array_a, array_b


def _check_samples(samples: int) -> None:
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}")
