"""Evaluating classifiers (task classification): single-label, multi-label and pair regression.

Same shape as `sft_eval.py`. The base of a classifier has no trained head, so scoring it as is
would only measure chance. Its fair baseline is a linear probe: a logistic regression (ridge for
scores) fitted on the training split's frozen, mean-pooled embeddings, which is what the
pretrained representation gives without fine-tuning.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from antrenor.evaluation.config import EvalConfig
from antrenor.evaluation.forgetting import sts_spearman
from antrenor.evaluation.metrics import (
    classification_details,
    classification_metrics,
    multilabel_metrics,
    regression_metrics,
)
from antrenor.models.loading import LoadedModel
from antrenor.models.scoring import class_logits, mean_pooled_embeddings
from antrenor.records.kinds import model_inputs

PROBE_TRAIN_EXAMPLES = 2000


class LinearProbe:
    """Frozen encoder + scikit-learn head fitted on training examples."""

    def __init__(self, loaded: LoadedModel, train_records: list[dict[str, Any]], problem_type: str,
                 label2id: dict[str, int], seed: int, max_length: int = 256):
        from sklearn.linear_model import LogisticRegression, Ridge

        self.loaded, self.problem_type, self.max_length = loaded, problem_type, max_length
        rng = np.random.default_rng(seed)
        chosen = [train_records[i] for i in sorted(rng.permutation(len(train_records))[:PROBE_TRAIN_EXAMPLES])]
        features = self.embed(chosen)
        if problem_type == "regression":
            self.head = Ridge(alpha=1.0).fit(features, [r.get("score", r.get("label")) for r in chosen])
        else:
            targets = [label2id[str(r["label"])] for r in chosen]
            self.head = LogisticRegression(max_iter=2000).fit(features, targets)

    def embed(self, records: list[dict[str, Any]], on_batch: Any = None) -> np.ndarray:
        texts = model_inputs(records)
        if texts and isinstance(texts[0], tuple):
            a = mean_pooled_embeddings(self.loaded.model, self.loaded.tokenizer, [t[0] for t in texts], self.max_length)
            b = mean_pooled_embeddings(self.loaded.model, self.loaded.tokenizer, [t[1] for t in texts], self.max_length,
                                       on_batch=on_batch)
            return np.concatenate([a, b, np.abs(a - b), a * b], axis=1)
        return mean_pooled_embeddings(self.loaded.model, self.loaded.tokenizer, texts, self.max_length, on_batch=on_batch)

    def outputs(self, records: list[dict[str, Any]], on_batch: Any = None) -> np.ndarray:
        """Class probabilities (or a single score column for regression)."""
        features = self.embed(records, on_batch)
        if self.problem_type == "regression":
            return self.head.predict(features)[:, None]
        probabilities = np.zeros((len(records), len(self.loaded.labels["id2label"])))
        probabilities[:, self.head.classes_] = self.head.predict_proba(features)
        return probabilities


class ClassificationEvaluator:
    def __init__(self, cfg: EvalConfig, labels: dict[str, Any], train_records: list[dict[str, Any]], progress: Any = None):
        self.cfg, self.labels, self.train_records, self.progress = cfg, labels, train_records, progress
        self.problem_type = labels.get("problem_type", "single_label_classification")
        self.names = [labels["id2label"][i] for i in sorted(labels["id2label"])] if "id2label" in labels else []
        self._probes: dict[int, LinearProbe] = {}

    # -- predictions --------------------------------------------------------------------------
    def probabilities(self, loaded: LoadedModel, records: list[dict[str, Any]]) -> np.ndarray:
        """Softmax (single-label), sigmoid (multi-label) or raw score (regression) per example."""
        if loaded.role == "base":
            probe = self._probes.get(id(loaded.model))
            if probe is None:
                probe = self._probes[id(loaded.model)] = LinearProbe(
                    loaded, self.train_records, self.problem_type, self.labels.get("label2id", {}), self.cfg.seed,
                    self.cfg.max_length)
            return probe.outputs(records, self.progress)
        logits = class_logits(loaded.model, loaded.tokenizer, model_inputs(records), self.cfg.max_length,
                              on_batch=self.progress)
        if self.problem_type == "regression":
            return logits
        if self.problem_type == "multi_label_classification":
            return 1 / (1 + np.exp(-logits))
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    def logits_or_none(self, loaded: LoadedModel, records: list[dict[str, Any]]) -> np.ndarray | None:
        if loaded.role == "base":
            return None  # a probe has no logits to take an energy of
        return class_logits(loaded.model, loaded.tokenizer, model_inputs(records), self.cfg.max_length)

    def truth(self, records: list[dict[str, Any]]) -> np.ndarray:
        if self.problem_type == "regression":
            return np.array([float(r.get("score", r.get("label"))) for r in records])
        label2id = self.labels["label2id"]
        if self.problem_type == "multi_label_classification":
            rows = np.zeros((len(records), len(label2id)), dtype=int)
            for row, record in enumerate(records):
                for label in record["labels"]:
                    rows[row, label2id[str(label)]] = 1
            return rows
        return np.array([label2id[str(r["label"])] for r in records])

    def predictions(self, outputs: np.ndarray) -> np.ndarray:
        if self.problem_type == "regression":
            return outputs[:, 0]
        if self.problem_type == "multi_label_classification":
            return (outputs >= 0.5).astype(int)
        return outputs.argmax(axis=1)

    def _metric_functions(self, truth: np.ndarray, predicted: np.ndarray) -> dict:
        if self.problem_type == "regression":
            return regression_metrics(truth, predicted)
        if self.problem_type == "multi_label_classification":
            return multilabel_metrics(truth, predicted)
        return classification_metrics(truth, predicted)

    # -- the evaluator shape ------------------------------------------------------------------
    def score(self, loaded: LoadedModel, records: list[dict[str, Any]]) -> tuple[dict, list[dict[str, Any]], dict]:
        outputs = self.probabilities(loaded, records)
        truth, predicted = self.truth(records), self.predictions(outputs)
        details = {}
        if self.problem_type == "single_label_classification":
            details = classification_details(truth, predicted, self.names)
        rows = []
        for record, t, p, out in zip(records, truth, predicted, outputs):
            row = {"input": record.get("text") or [record.get("text_a"), record.get("text_b")],
                   "reference": self._shown(t), "prediction": self._shown(p)}
            if self.problem_type == "single_label_classification":
                row["confidence"] = round(float(out.max()), 4)
                row["correct"] = bool(t == p)
            rows.append(row)
        return self._metric_functions(truth, predicted), rows, details

    def _shown(self, value: Any) -> Any:
        if self.problem_type == "regression":
            return round(float(value), 4)
        if self.problem_type == "multi_label_classification":
            return [self.names[i] for i, on in enumerate(value) if on]
        return self.names[int(value)]

    def robustness_figures(self, loaded: LoadedModel, records: list[dict[str, Any]]) -> dict[str, float]:
        metrics, _, _ = self.score(loaded, records)
        everything = np.arange(len(records))
        return {name: fn(everything) for name, fn in metrics.items()}

    def ood_scores(self, loaded: LoadedModel, records: list[dict[str, Any]]) -> dict[str, np.ndarray]:
        """1 - max softmax probability, and the energy -logsumexp(logits): higher = more OOD."""
        if self.problem_type == "regression":
            return {}
        scores = {"max_softmax": 1 - self.probabilities(loaded, records).max(axis=1)}
        logits = self.logits_or_none(loaded, records)
        if logits is not None:
            top = logits.max(axis=1, keepdims=True)
            scores["energy"] = -(top[:, 0] + np.log(np.exp(logits - top).sum(axis=1)))
        return scores

    def forgetting_figures(self, loaded: LoadedModel) -> dict[str, float]:
        return {"sts_spearman": sts_spearman(loaded)}

    def predict_proba_fn(self, loaded: LoadedModel):
        """For the adversarial attack: texts -> class probabilities."""
        return lambda texts: self.probabilities(loaded, [{"text": t} for t in texts])
