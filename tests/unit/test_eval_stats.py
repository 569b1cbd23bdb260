import math

import numpy as np
import pytest

from antrenor.reporting.stats import auroc, bootstrap_ci, mean_std, paired_bootstrap_pvalue, paired_permutation_pvalue


def _mean_of(values):
    return lambda indices: float(values[indices].mean())


def test_bootstrap_ci_contains_the_true_mean_and_shrinks_with_more_items():
    rng = np.random.default_rng(0)
    widths = []
    for n_items in (50, 200, 1600):
        values = rng.normal(loc=5.0, scale=2.0, size=n_items)
        low, high = bootstrap_ci(_mean_of(values), n_items, samples=500, seed=0)
        assert low < 5.0 < high
        widths.append(high - low)
    assert widths[0] > widths[1] > widths[2]
    # the standard error halves when the items quadruple: the 95 % width is about 2 * 1.96 * 2 / sqrt(n)
    assert widths[2] == pytest.approx(2 * 1.96 * 2.0 / math.sqrt(1600), rel=0.2)


def test_bootstrap_ci_is_seeded_and_follows_the_confidence():
    values = np.random.default_rng(1).normal(size=100)
    assert bootstrap_ci(_mean_of(values), 100, seed=3) == bootstrap_ci(_mean_of(values), 100, seed=3)
    assert bootstrap_ci(_mean_of(values), 100, seed=3) != bootstrap_ci(_mean_of(values), 100, seed=4)
    low_90, high_90 = bootstrap_ci(_mean_of(values), 100, seed=3, confidence=0.90)
    low_99, high_99 = bootstrap_ci(_mean_of(values), 100, seed=3, confidence=0.99)
    assert low_99 < low_90 and high_90 < high_99


def test_bootstrap_ci_recomputes_a_corpus_level_metric_on_each_resample():
    # a ratio of sums (like corpus BLEU or micro F1) is not the mean of per-item ratios
    hits, totals = np.array([1, 9, 1, 9]), np.array([1, 10, 10, 10])
    seen = []

    def corpus_ratio(indices):
        seen.append(len(indices))
        return hits[indices].sum() / totals[indices].sum()

    low, high = bootstrap_ci(corpus_ratio, 4, samples=200, seed=0)
    assert low <= 20 / 31 <= high and seen == [4] * 200


def test_bootstrap_ci_edge_sizes():
    low, high = bootstrap_ci(lambda indices: 1.0, 0)
    assert math.isnan(low) and math.isnan(high)
    assert bootstrap_ci(_mean_of(np.array([0.7])), 1) == (0.7, 0.7)
    with pytest.raises(ValueError):
        bootstrap_ci(lambda indices: 1.0, 10, confidence=95)


def _correct(rng, accuracy, n_items):
    return (rng.random(n_items) < accuracy).astype(float)


def test_paired_bootstrap_identical_systems_give_one_and_a_clearly_better_one_is_significant():
    rng = np.random.default_rng(0)
    a, b = _correct(rng, 0.85, 200), _correct(rng, 0.55, 200)
    assert paired_bootstrap_pvalue(_mean_of(a), _mean_of(a), 200) == 1.0
    assert paired_bootstrap_pvalue(_mean_of(a), _mean_of(b), 200) < 0.05
    assert paired_bootstrap_pvalue(_mean_of(b), _mean_of(a), 200) < 0.05  # two-sided
    # never exactly 0, however clear the difference: the smallest value is 2 / (samples + 1)
    assert paired_bootstrap_pvalue(_mean_of(np.ones(50)), _mean_of(np.zeros(50)), 50, samples=99) == pytest.approx(0.02)


def test_paired_bootstrap_same_quality_systems_are_not_significant():
    rng = np.random.default_rng(5)
    a, b = _correct(rng, 0.7, 300), _correct(rng, 0.7, 300)
    assert a.mean() != b.mean()
    assert paired_bootstrap_pvalue(_mean_of(a), _mean_of(b), 300) > 0.05


def test_paired_bootstrap_edge_sizes():
    assert math.isnan(paired_bootstrap_pvalue(lambda i: 1.0, lambda i: 0.0, 0))
    assert paired_bootstrap_pvalue(lambda i: 1.0, lambda i: 0.0, 1) == 1.0


def test_permutation_identical_systems_give_one_and_a_clearly_better_one_is_significant():
    rng = np.random.default_rng(0)
    a, b = _correct(rng, 0.85, 200), _correct(rng, 0.55, 200)
    assert paired_permutation_pvalue(a, a) == 1.0
    assert paired_permutation_pvalue(a, b, samples=2000) < 0.05
    assert paired_permutation_pvalue(b, a, samples=2000) < 0.05
    assert paired_permutation_pvalue(a, b, samples=2000) == paired_permutation_pvalue(a, b, samples=2000)
    # add-one smoothing: no flip of 200 items reaches the observed difference, yet p > 0
    assert paired_permutation_pvalue(np.ones(200), np.zeros(200), samples=999) == pytest.approx(1 / 1000)


def test_permutation_is_exact_on_twelve_items_or_fewer():
    # only the all-plus and all-minus flips are as extreme as "A always right, B always wrong"
    assert paired_permutation_pvalue([1] * 5, [0] * 5) == pytest.approx(2 / 2**5)
    assert paired_permutation_pvalue([1] * 12, [0] * 12, seed=1) == pytest.approx(2 / 2**12)
    # exact: the seed and the sample count do not matter
    a, b = [0.9, 0.2, 0.5, 0.7], [0.1, 0.3, 0.4, 0.2]
    assert paired_permutation_pvalue(a, b, seed=0) == paired_permutation_pvalue(a, b, seed=9, samples=5)
    # differences 0.8, -0.1, 0.1, 0.5 (sum 1.3): |sum| >= 1.3 needs 0.8 and 0.5 of one sign (4 of 16
    # flips each way) and the two 0.1s not both against them (3 of those 4)
    assert paired_permutation_pvalue(a, b) == pytest.approx(6 / 16)


def test_permutation_rejects_unpaired_scores_and_empty_is_nan():
    with pytest.raises(ValueError, match="paired"):
        paired_permutation_pvalue([1, 0, 1], [1, 0])
    assert math.isnan(paired_permutation_pvalue([], []))


def test_auroc():
    assert auroc([0.1, 0.2, 0.3], [0.7, 0.8, 0.9]) == 1.0
    assert auroc([0.7, 0.8, 0.9], [0.1, 0.2, 0.3]) == 0.0  # the score points the wrong way
    rng = np.random.default_rng(0)
    assert auroc(rng.normal(size=2000), rng.normal(size=2000)) == pytest.approx(0.5, abs=0.03)
    assert math.isnan(auroc([], [1.0])) and math.isnan(auroc([1.0], []))


def test_mean_std():
    assert mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0)  # sample std (ddof=1), not population (0.816)
    assert mean_std([5.0]) == (5.0, 0.0)
    assert all(math.isnan(x) for x in mean_std([]))
