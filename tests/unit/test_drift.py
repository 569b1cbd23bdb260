"""Drift signals: each flags a shifted production sample and stays quiet on a same-distribution one."""

import json
import random

import numpy as np
import pytest

from antrenor.monitoring import drift
from antrenor.records.normalize import TextNormalizer, strip_diacritics
from tests.conftest import DEMO, read_jsonl


@pytest.fixture(scope="module")
def legal_halves():
    """Two seeded halves of the legal articles: the same distribution on both sides."""
    rows = read_jsonl(DEMO / "legal-classification" / "articles.jsonl")
    random.Random(0).shuffle(rows)
    half = len(rows) // 2
    return rows[:half], rows[half:]


@pytest.fixture(scope="module")
def medical():
    return [r["text"] for r in read_jsonl(DEMO / "ood-medical" / "sentences.jsonl")]


def texts(rows):
    return [r["text"] for r in rows]


def vocabulary_split(rows):
    """Train-like part for the vocabulary, held-out part for the baseline OOV rate (as monitor does)."""
    cut = int(len(rows) * 0.8)
    return texts(rows[:cut]), texts(rows[cut:])


def all_signals(reference_rows, production_texts, detect):
    vocabulary, held_out = vocabulary_split(reference_rows)
    ref = texts(reference_rows)
    return {
        "length": drift.length_shift(ref, production_texts),
        "vocabulary": drift.vocabulary_shift(vocabulary, held_out, production_texts),
        "diacritics": drift.diacritics_shift(ref, production_texts),
        "cedilla": drift.cedilla_shift(ref, production_texts),
        "language": drift.language_shift(ref[:150], production_texts[:150], detect),
    }


@pytest.fixture(scope="module")
def detect():
    from antrenor.records.language import load_language_detector

    found = load_language_detector()
    assert found is not None, "langdetect is a dev dependency"
    return found


def test_no_false_alarm_on_same_distribution_at_default_thresholds(legal_halves, detect):
    reference, production = legal_halves
    signals = all_signals(reference, texts(production), detect)
    signals["labels"] = drift.label_shift([r["label"] for r in reference], [r["label"] for r in production])
    assert {name: s.verdict for name, s in signals.items()} == {name: "ok" for name in signals}
    assert signals["length"].statistic < 0.1 and signals["vocabulary"].statistic < 1.2
    assert signals["language"].note.startswith("main language 'ro'")


def test_medical_sentences_drift_on_length_and_vocabulary(legal_halves, medical, detect):
    reference, _ = legal_halves
    signals = all_signals(reference, medical, detect)
    assert signals["length"].verdict == "drift" and signals["length"].production < signals["length"].reference
    assert signals["vocabulary"].verdict == "drift" and signals["vocabulary"].statistic > 3
    assert signals["language"].verdict == "ok"  # still Romanian: the language signal must not claim otherwise


def test_much_longer_inputs_drift_on_length_only(legal_halves, detect):
    reference, production = legal_halves
    longer = [" ".join([r["text"]] * 3) for r in production]
    signals = all_signals(reference, longer, detect)
    assert signals["length"].verdict == "drift" and signals["length"].p_value < 1e-6
    assert [name for name, s in signals.items() if s.verdict == "drift"] == ["length"]


def test_stripped_diacritics_drift_on_diacritics_rate_and_vocabulary(legal_halves, detect):
    reference, production = legal_halves
    signals = all_signals(reference, [strip_diacritics(r["text"]) for r in production], detect)
    assert signals["diacritics"].verdict == "drift" and signals["diacritics"].production == 0
    assert signals["vocabulary"].verdict == "drift"
    assert signals["length"].verdict == "ok"
    assert signals["cedilla"].verdict == "not enough data"  # no ș ț left to count


def test_cedilla_spelling_drifts_only_against_a_comma_below_reference(legal_halves):
    reference, production = legal_halves
    fix = TextNormalizer(fix_cedilla=True)
    fixed_reference = [fix(t) for t in texts(reference)]
    raw = drift.cedilla_shift(fixed_reference, texts(production))
    assert raw.verdict == "drift" and raw.reference == 0 and raw.production > 0.3
    fixed = drift.cedilla_shift(fixed_reference, [fix(t) for t in texts(production)])
    assert fixed.verdict == "ok" and fixed.statistic == 0
    both = drift.diacritics_shift(fixed_reference, texts(production))
    assert both.verdict == "ok"  # cedilla letters still count as diacritics


def test_english_inputs_drift_on_language(legal_halves, detect):
    rows = read_jsonl(DEMO / "translation" / "ro_en.jsonl")
    english = [r["output"] for r in rows if "englez" in r["instruction"] and len(r["output"]) >= 40][:150]
    signal = drift.language_shift(texts(legal_halves[0])[:150], english, detect)
    assert signal.verdict == "drift" and signal.reference > 0.95 and signal.production < 0.3
    assert "en" in signal.note


def test_language_is_skipped_without_langdetect(legal_halves):
    signal = drift.language_shift(texts(legal_halves[0]), texts(legal_halves[1]), None)
    assert signal.verdict == "skipped" and "langdetect" in signal.note and signal.statistic is None


def test_label_distribution_skewed_to_one_class_drifts(legal_halves):
    reference, production = legal_halves
    skewed = ["civil_code"] * 120 + [r["label"] for r in production[:40]] + ["unknown_class"] * 5
    signal = drift.label_shift([r["label"] for r in reference], skewed)
    assert signal.verdict == "drift" and signal.statistic > 1
    assert "unknown_class" in signal.note
    assert signal.series["classes"][-1] == "unknown_class" and sum(signal.series["production"]) == len(skewed)


def test_confidence_drift_when_the_newer_half_is_less_sure():
    rng = np.random.default_rng(0)
    steady = np.clip(rng.normal(0.85, 0.05, 200), 0, 1).tolist()
    falling = steady[:100] + np.clip(rng.normal(0.6, 0.1, 100), 0, 1).tolist()
    assert drift.confidence_shift(steady).verdict == "ok"
    signal = drift.confidence_shift(falling)
    assert signal.verdict == "drift" and signal.statistic > 0.2 and signal.production < signal.reference
    rising = falling[::-1]  # more confident lately: not a drop
    assert drift.confidence_shift(rising).verdict == "ok"


def test_too_few_production_inputs_give_not_enough_data_never_a_verdict(legal_halves, medical, detect):
    reference, _ = legal_halves
    few = medical[:12]  # clearly shifted, but too few to say so
    signals = all_signals(reference, few, detect)
    signals["labels"] = drift.label_shift([r["label"] for r in reference], ["civil_code"] * 12)
    signals["confidence"] = drift.confidence_shift([0.9] * 6 + [0.1] * 6)
    signals["embedding"] = drift.embedding_shift(np.zeros((100, 4)), np.ones((12, 4)))
    assert {name: s.verdict for name, s in signals.items()} == {name: "not enough data" for name in signals}
    assert all(s.statistic is None for s in signals.values())
    assert drift.length_shift(texts(reference), few, min_inputs=10).verdict == "drift"  # the minimum is configurable


def test_psi_is_zero_for_equal_distributions_and_grows_with_the_shift():
    assert drift.psi([50, 30, 20], [50, 30, 20]) == 0.0
    assert drift.psi([50, 30, 20], [100, 60, 40]) == pytest.approx(0.0, abs=1e-4)  # only the smoothing differs
    shifts = [drift.psi([50, 50], [50 + d, 50 - d]) for d in (10, 25, 40)]
    assert 0 < shifts[0] < shifts[1] < shifts[2]
    assert np.isfinite(drift.psi([10, 0], [0, 10]))  # empty bins are smoothed, not infinite


def test_mmd_permutation_test_on_synthetic_gaussians_is_seeded():
    rng = np.random.default_rng(1)
    same_a, same_b = rng.normal(size=(80, 8)), rng.normal(size=(80, 8))
    shifted = rng.normal(loc=0.5, size=(80, 8))
    _, p_same, _ = drift.rbf_mmd(same_a, same_b, permutations=200, seed=3)
    mmd_shift, p_shift, _ = drift.rbf_mmd(same_a, shifted, permutations=200, seed=3)
    assert p_same > 0.05 and p_shift < 0.01 and mmd_shift > 0
    assert drift.rbf_mmd(same_a, same_b, permutations=200, seed=3) == drift.rbf_mmd(same_a, same_b, permutations=200, seed=3)


@pytest.fixture(scope="module")
def minilm():
    from antrenor.monitoring.run import load_encoder

    return load_encoder("minilm-l6")


def embed(minilm, texts_):
    from antrenor.models.scoring import mean_pooled_embeddings

    return mean_pooled_embeddings(*minilm, texts_, max_length=64)


def test_embedding_mmd_on_minilm_separates_medical_from_legal_but_not_legal_halves(legal_halves, medical, minilm):
    rng = random.Random(0)
    reference = embed(minilm, rng.sample(texts(legal_halves[0]), 60))
    same = drift.embedding_shift(reference, embed(minilm, rng.sample(texts(legal_halves[1]), 60)))
    shifted = drift.embedding_shift(reference, embed(minilm, rng.sample(medical, 60)))
    assert same.verdict == "ok" and same.p_value > 0.05
    assert shifted.verdict == "drift" and shifted.statistic > same.statistic
    assert json.dumps(shifted.to_json())  # the JSON part holds no arrays


def test_length_has_open_bins_beyond_the_reference_range_even_for_equal_lengths():
    reference = ["unu doi trei patru"] * 50
    assert drift.length_shift(reference, ["unu doi trei patru"] * 40).verdict == "ok"
    assert drift.length_shift(reference, ["unu doi trei patru cinci șase"] * 40).verdict == "drift"
    assert drift.length_shift(reference, ["unu"] * 40).verdict == "drift"
    chars = drift.length_shift(reference, ["unu doi trei patruuuuuuuuu"] * 40, unit="chars")
    assert chars.verdict == "drift" and chars.name == "input length (chars)"
