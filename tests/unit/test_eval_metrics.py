"""Metrics: equal to the reference implementations on the full corpus, and resampling-ready."""

from __future__ import annotations

import math

import numpy as np
import pytest

from antrenor.evaluation.metrics import (
    UnicodeWordTokenizer,
    classification_details,
    classification_metrics,
    generation_metrics,
    multilabel_metrics,
    perplexity_metric,
    regression_metrics,
)

HYPS = ["Drepturi și obligații ale terțului", "Sechestrul bunurilor", "Contractul de asigurare", "abc"]
REFS = ["Drepturile terțului", "Sechestrul bunurilor mobile", "Contractul de asigurare", "xyz"]


def test_bleu_and_chrf_equal_sacrebleu_on_the_whole_corpus():
    import sacrebleu

    metrics = generation_metrics(HYPS, REFS)
    everything = np.arange(len(HYPS))
    assert metrics["bleu"](everything) == pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS]).score)
    assert metrics["chrf"](everything) == pytest.approx(sacrebleu.corpus_chrf(HYPS, [REFS]).score)


def test_resampled_indices_recompute_the_corpus_figure():
    import sacrebleu

    metrics = generation_metrics(HYPS, REFS)
    chosen = np.array([1, 1, 2])
    expected = sacrebleu.corpus_bleu([HYPS[i] for i in chosen], [[REFS[i] for i in chosen]]).score
    assert metrics["bleu"](chosen) == pytest.approx(expected)
    assert metrics["exact_match"](np.array([2])) == 100.0
    assert metrics["exact_match"](np.array([3])) == 0.0


def test_rouge_keeps_romanian_diacritics():
    """The default rouge-score tokenizer drops non-ASCII letters: 'față' would match 'fata'."""
    assert UnicodeWordTokenizer().tokenize("Față de TERȚ, ș.a.") == ["față", "de", "terț", "ș", "a"]
    with_diacritics = generation_metrics(["față"], ["fata"])
    assert with_diacritics["rouge1"](np.arange(1)) == 0.0
    same = generation_metrics(["Față"], ["față"])
    assert same["rouge1"](np.arange(1)) == 100.0


def test_classification_metrics_and_details():
    truth, predicted = [0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0]
    metrics = classification_metrics(truth, predicted)
    assert metrics["accuracy"](np.arange(6)) == pytest.approx(100 * 4 / 6)
    details = classification_details(truth, predicted, ["a", "b", "c"])
    assert details["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert details["per_class"]["b"]["precision"] == pytest.approx(100 * 2 / 3, abs=0.01)
    assert details["per_class"]["b"]["recall"] == 100.0
    assert sum(c["support"] for c in details["per_class"].values()) == 6


def test_multilabel_and_regression_metrics():
    truth = np.array([[1, 0], [0, 1], [1, 1]])
    predicted = np.array([[1, 0], [0, 0], [1, 1]])
    metrics = multilabel_metrics(truth, predicted)
    assert metrics["subset_accuracy"](np.arange(3)) == pytest.approx(100 * 2 / 3)
    correlation = regression_metrics([1.0, 2.0, 3.0, 4.0], [1.1, 1.9, 3.2, 3.9])
    assert correlation["spearman"](np.arange(4)) == pytest.approx(100.0)
    assert math.isnan(correlation["pearson"](np.array([0, 0])))  # no spread: undefined, not a crash


def test_perplexity_is_exp_of_token_weighted_mean_loss():
    metric = perplexity_metric([2.0, 6.0], [1, 3])
    assert metric(np.arange(2)) == pytest.approx(math.exp(8.0 / 4))
    assert metric(np.array([0])) == pytest.approx(math.exp(2.0))


def test_answer_losses_use_the_head_on_answer_positions_only_and_match_the_full_forward(tiny_llama_dir):
    """token_losses runs the output head on labelled positions only; the figures equal a full forward's."""
    import torch
    import torch.nn.functional as F
    from transformers import AutoModelForCausalLM

    from antrenor.models.scoring import token_losses

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval()
    rng = np.random.default_rng(0)
    features = []
    for length in (7, 12, 5):  # lengths differ: batches are padded
        ids = [int(x) for x in rng.integers(10, 100, length)]
        features.append({"input_ids": ids, "labels": [-100] * (length - 3) + ids[-3:]})
    losses, counts = token_losses(model, features, batch_size=2)
    for feature, loss, count in zip(features, losses, counts):
        ids, labels = torch.tensor([feature["input_ids"]]), torch.tensor(feature["labels"][1:])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, :-1].float()
        assert loss == pytest.approx(F.cross_entropy(logits, labels, ignore_index=-100, reduction="sum").item(), abs=1e-4)
        assert count == 3
