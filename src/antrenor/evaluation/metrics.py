"""Task metrics, each with per-example statistics so confidence intervals and paired tests can
resample examples and recompute the corpus-level figure exactly.

- Classification: accuracy, macro-F1, per-class precision/recall, confusion matrix (scikit-learn).
- Generation: BLEU and chrF (sacrebleu, corpus level from summed sentence statistics, as
  sacrebleu's own paired bootstrap does), ROUGE-1/2/L F1 (rouge-score with a tokenizer that keeps
  Romanian diacritics: the default one drops every non-ASCII letter, so "față" and "fata" would
  both become "fa", "a"), exact match.
- Language modelling: perplexity from summed token losses.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

IndexMetric = Callable[[np.ndarray], float]  # a corpus figure recomputed on resampled example indices


class UnicodeWordTokenizer:
    """rouge-score tokenizer: lower-cased Unicode words, diacritics kept (ș ≠ s)."""

    def tokenize(self, text: str) -> list[str]:
        return re.findall(r"\w+", unicodedata.normalize("NFC", text).casefold())


def normalize_answer(text: str) -> str:
    return " ".join(text.casefold().split()).strip(" .;:!?\"'")


def generation_metrics(predictions: Sequence[str], references: Sequence[str]) -> dict[str, IndexMetric]:
    """Metric name -> function of example indices (np.arange(n) gives the full-corpus value)."""
    from rouge_score import rouge_scorer
    from sacrebleu.metrics import BLEU, CHRF

    hyps, refs = list(predictions), list(references)
    bleu, chrf = BLEU(), CHRF()  # the settings of sacrebleu.corpus_bleu/corpus_chrf
    bleu_stats = np.array(bleu._extract_corpus_statistics(hyps, [refs]), dtype=np.float64)
    chrf_stats = np.array(chrf._extract_corpus_statistics(hyps, [refs]), dtype=np.float64)
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], tokenizer=UnicodeWordTokenizer())
    rouge = [scorer.score(ref, hyp) for hyp, ref in zip(hyps, refs)]
    per_example = {
        "rouge1": np.array([r["rouge1"].fmeasure for r in rouge]) * 100,
        "rouge2": np.array([r["rouge2"].fmeasure for r in rouge]) * 100,
        "rougeL": np.array([r["rougeL"].fmeasure for r in rouge]) * 100,
        "exact_match": np.array([normalize_answer(h) == normalize_answer(r) for h, r in zip(hyps, refs)], float) * 100,
    }
    metrics: dict[str, IndexMetric] = {
        "bleu": lambda idx: float(bleu._compute_score_from_stats(list(bleu_stats[idx].sum(axis=0))).score),
        "chrf": lambda idx: float(chrf._compute_score_from_stats(list(chrf_stats[idx].sum(axis=0))).score),
    }
    for name, values in per_example.items():
        metrics[name] = lambda idx, values=values: float(values[idx].mean())
    return metrics


def sentence_scores(predictions: Sequence[str], references: Sequence[str]) -> np.ndarray:
    """Per-example ROUGE-L F1 (0-100): what the worst-predictions table sorts by."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=UnicodeWordTokenizer())
    return np.array([scorer.score(r, p)["rougeL"].fmeasure * 100 for p, r in zip(predictions, references)])


def classification_metrics(truth: Sequence[int], predicted: Sequence[int]) -> dict[str, IndexMetric]:
    from sklearn.metrics import f1_score

    y, p = np.asarray(truth), np.asarray(predicted)
    return {
        "accuracy": lambda idx: float((y[idx] == p[idx]).mean() * 100),
        "macro_f1": lambda idx: float(f1_score(y[idx], p[idx], average="macro", zero_division=0) * 100),
    }


def classification_details(truth: Sequence[int], predicted: Sequence[int], names: Sequence[str]) -> dict[str, Any]:
    """Per-class precision/recall/F1/support and the confusion matrix (rows: truth, columns: prediction)."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = list(range(len(names)))
    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, labels=labels, zero_division=0)
    return {
        "per_class": {names[i]: {"precision": round(float(precision[i]) * 100, 2), "recall": round(float(recall[i]) * 100, 2),
                                 "f1": round(float(f1[i]) * 100, 2), "support": int(support[i])} for i in labels},
        "confusion_matrix": confusion_matrix(truth, predicted, labels=labels).tolist(),
        "labels": list(names),
    }


def multilabel_metrics(truth: np.ndarray, predicted: np.ndarray) -> dict[str, IndexMetric]:
    from sklearn.metrics import f1_score

    return {
        "subset_accuracy": lambda idx: float((truth[idx] == predicted[idx]).all(axis=1).mean() * 100),
        "micro_f1": lambda idx: float(f1_score(truth[idx], predicted[idx], average="micro", zero_division=0) * 100),
        "macro_f1": lambda idx: float(f1_score(truth[idx], predicted[idx], average="macro", zero_division=0) * 100),
    }


def regression_metrics(truth: Sequence[float], predicted: Sequence[float]) -> dict[str, IndexMetric]:
    from scipy.stats import pearsonr, spearmanr

    y, p = np.asarray(truth, float), np.asarray(predicted, float)

    def correlation(fn, idx):
        if np.std(y[idx]) == 0 or np.std(p[idx]) == 0:
            return float("nan")
        return float(fn(y[idx], p[idx])[0] * 100)

    return {"pearson": lambda idx: correlation(pearsonr, idx), "spearman": lambda idx: correlation(spearmanr, idx),
            "mse": lambda idx: float(((y[idx] - p[idx]) ** 2).mean())}


def perplexity_metric(losses: Sequence[float], counts: Sequence[int]) -> IndexMetric:
    """exp(total loss / total tokens) over the chosen examples: the corpus perplexity."""
    nll, tokens = np.asarray(losses, float), np.asarray(counts, float)
    return lambda idx: float(math.exp(min(nll[idx].sum() / max(tokens[idx].sum(), 1.0), 50.0)))


LOWER_IS_BETTER = {"perplexity", "answer_perplexity", "text_perplexity", "mse"}
