import math
import re

import numpy as np

from antrenor.evaluation.attack import attack_many, attack_text, propose_substitutions

POSITIVE, NEGATIVE = 1, 0


class KeywordClassifier:
    """"positive" iff the word "bun" appears; counts the texts it scores."""

    def __init__(self):
        self.queries = 0

    def __call__(self, texts):
        self.queries += len(texts)
        return np.array([[0.1, 0.9] if "bun" in re.findall(r"\w+", t.lower()) else [0.9, 0.1] for t in texts])


class StubbornClassifier:
    """Always "positive"; each original word that survives intact adds confidence, but the
    probability never drops below 0.55, so no amount of misspelling flips it."""

    def __init__(self, text):
        self.vocabulary = text.split()

    def __call__(self, texts):
        rows = []
        for t in texts:
            kept = sum(w in t.split() for w in self.vocabulary) / len(self.vocabulary)
            rows.append([0.45 - 0.4 * kept, 0.55 + 0.4 * kept])
        return np.array(rows)


def test_attack_flips_a_keyword_classifier_by_misspelling_only_the_keyword():
    text = "filmul de aseară a fost foarte bun, recomand"
    classify = KeywordClassifier()
    result = attack_text(text, POSITIVE, classify, max_change_ratio=0.2, seed=0)
    assert result.success and not result.skipped
    assert result.words_changed == 1
    assert (result.original_label, result.adversarial_label) == (POSITIVE, NEGATIVE)
    assert classify([result.adversarial])[0].argmax() == NEGATIVE
    before, after = re.split(r"(\w+)", text), re.split(r"(\w+)", result.adversarial)
    changed = [(b, a) for b, a in zip(before, after) if b != a]
    assert len(changed) == 1 and changed[0][0] == "bun"
    assert result.queries == classify.queries - 1  # the counter also saw the check above


def test_attack_skips_texts_the_model_already_gets_wrong():
    classify = KeywordClassifier()
    result = attack_text("un film prost", POSITIVE, classify)
    assert result.skipped and not result.success
    assert result.adversarial == result.original and result.words_changed == 0
    assert result.original_label == NEGATIVE and result.queries == classify.queries == 1


def test_attack_respects_the_change_budget_on_a_classifier_it_cannot_flip():
    text = "unu doi trei patru cinci șase șapte opt nouă zece"
    classify = StubbornClassifier(text)
    result = attack_text(text, POSITIVE, classify, max_change_ratio=0.2, seed=0)
    assert not result.success and result.adversarial_label == POSITIVE
    assert result.words_changed == 2  # round(0.2 * 10 words)
    assert sum(w in result.adversarial.split() for w in text.split()) == 8
    at_least_one = attack_text(text, POSITIVE, classify, max_change_ratio=0.0, seed=0)
    assert at_least_one.words_changed == 1


def test_words_whose_misspellings_do_not_help_are_left_alone():
    constant = lambda texts: np.tile([0.2, 0.8], (len(texts), 1))  # noqa: E731
    result = attack_text("nimic nu contează aici", POSITIVE, constant, max_change_ratio=1.0)
    assert not result.success and result.words_changed == 0 and result.adversarial == result.original


def test_attack_is_deterministic_for_a_seed_and_the_seed_breaks_ties():
    text = "unu doi trei patru cinci șase șapte opt nouă zece"
    classify = StubbornClassifier(text)
    by_seed = [attack_text(text, POSITIVE, classify, seed=seed) for seed in range(6)]
    assert by_seed[0] == attack_text(text, POSITIVE, classify, seed=0)
    # every word matters equally to this classifier, so which are attacked is the seed's choice
    assert len({r.adversarial for r in by_seed}) > 1


def test_attack_prefers_a_label_flip_over_the_lowest_true_probability_with_three_classes():
    def three_classes(texts):
        rows = []
        for t in texts:
            if "bun" in t.split():
                rows.append([0.8, 0.1, 0.1])
            elif "bn" in t.split():  # the deepest drop of class 0, yet class 0 still wins
                rows.append([0.35, 0.33, 0.32])
            else:
                rows.append([0.4, 0.6, 0.0])
        return np.array(rows)

    result = attack_text("este bun", 0, three_classes)
    assert result.success and result.adversarial_label == 1 and "bn" not in result.adversarial.split()


def test_substitutions_cover_the_romanian_and_visual_misspellings():
    candidates = propose_substitutions("ștol")
    assert {"tșol", "ștlo"} <= set(candidates)  # adjacent swaps
    assert {"tol", "șol", "ștl", "șto"} <= set(candidates)  # dropped letters
    assert {"stol", "șțol"} <= set(candidates)  # diacritic removed, added
    assert {"șt0l", "șto1"} <= set(candidates)  # look-alikes
    assert {"ș tol", "șt ol", "șto l"} <= set(candidates)  # split in two
    assert "ștol" not in candidates and len(candidates) == len(set(candidates))
    assert {"țara", "tăra", "tară"} <= set(propose_substitutions("tara"))
    assert "îmi" in propose_substitutions("imi") and "tara" in propose_substitutions("țara")
    assert propose_substitutions("a") == ["ă", "á"]  # a one-letter word is never deleted


def test_attack_many_counts_only_correctly_classified_texts():
    texts = ["un film bun", "mâncarea a fost bună dar serviciul bun", "un film prost", "o zi bun de plimbare"]
    labels = [POSITIVE, POSITIVE, POSITIVE, POSITIVE]
    summary = attack_many(texts, labels, KeywordClassifier(), max_change_ratio=0.2, seed=0)
    assert (summary.attempted, summary.skipped, summary.succeeded) == (3, 1, 3)
    assert summary.success_rate == 1.0 and summary.mean_words_changed == 1.0
    assert summary.mean_queries == np.mean([r.queries for r in summary.examples if not r.skipped])
    assert summary.examples[1] == attack_text(texts[1], POSITIVE, KeywordClassifier(), 0.2, seed=0)
    assert [r.skipped for r in summary.examples] == [False, False, True, False]
    limited = attack_many(texts, labels, KeywordClassifier(), max_change_ratio=0.2, seed=0, limit=2)
    assert len(limited.examples) == 2 and limited.skipped == 0


def test_attack_many_with_nothing_to_attack_reports_nan_rates():
    summary = attack_many(["un film prost"], [POSITIVE], KeywordClassifier())
    assert summary.attempted == 0 and summary.skipped == 1
    assert math.isnan(summary.success_rate) and math.isnan(summary.mean_words_changed) and math.isnan(summary.mean_queries)
