"""Task `classification`: sequence classification, single-label, multi-label, or pair scoring.

- `{text, label}`: single-label (cross-entropy), accuracy and macro-F1.
- `{text, labels: [...]}`: multi-label (sigmoid, binary cross-entropy), micro-F1 and exact match.
- `{text_a, text_b, label}`: pair classification; `{text_a, text_b, score}`: regression (MSE), Pearson r.
The label mapping is saved in the model's config (id2label/label2id) and in labels.json.
"""

from __future__ import annotations

from typing import Any

import numpy as np

KINDS = ("classification", "pairs")
HEAD = "sequence-classification"


def problem_type(records: list[dict[str, Any]]) -> str:
    first = records[0]
    if "score" in first:
        return "regression"
    if "labels" in first:
        return "multi_label_classification"
    return "single_label_classification"


def label_maps(labels: list[Any]) -> tuple[dict[int, str], dict[str, int]]:
    id2label = {i: str(label) for i, label in enumerate(labels)}
    return id2label, {name: i for i, name in id2label.items()}


def build_features(records: list[dict[str, Any]], tokenizer: Any, max_length: int, label2id: dict[str, int],
                   kind_of_problem: str) -> tuple[list[dict[str, Any]], int]:
    """Tokenized examples; the count of records whose label is unknown to the training labels."""
    if not records:
        return [], 0  # e.g. a data folder prepared without a validation split
    pairs = "text_a" in records[0]
    first = [r["text_a"] if pairs else r["text"] for r in records]
    second = [r["text_b"] for r in records] if pairs else None
    encoded = tokenizer(first, second, truncation=True, max_length=max_length)
    features, unknown = [], 0
    for index, record in enumerate(records):
        target = _target(record, label2id, kind_of_problem)
        if target is None:
            unknown += 1
            continue
        row = {key: values[index] for key, values in encoded.items()}
        row["labels"] = target
        features.append(row)
    return features, unknown


def _target(record: dict[str, Any], label2id: dict[str, int], kind_of_problem: str) -> Any:
    if kind_of_problem == "regression":
        return float(record["score"])
    if kind_of_problem == "multi_label_classification":
        if any(str(label) not in label2id for label in record["labels"]):
            return None
        vector = [0.0] * len(label2id)
        for label in record["labels"]:
            vector[label2id[str(label)]] = 1.0
        return vector
    return label2id.get(str(record["label"]))


def compute_metrics(kind_of_problem: str):
    """A Trainer compute_metrics function for the problem type."""
    def metrics(prediction) -> dict[str, float]:
        logits, labels = prediction.predictions, prediction.label_ids
        logits = logits[0] if isinstance(logits, tuple) else logits
        if kind_of_problem == "regression":
            scores = logits.reshape(-1)
            pearson = float(np.corrcoef(scores, labels)[0, 1]) if np.std(scores) > 0 else 0.0
            return {"mse": float(np.mean((scores - labels) ** 2)), "pearson": pearson}
        if kind_of_problem == "multi_label_classification":
            predicted = (logits > 0).astype(int)
            truth = labels.astype(int)
            tp = int((predicted & truth).sum())
            precision = tp / max(1, predicted.sum())
            recall = tp / max(1, truth.sum())
            f1 = 2 * precision * recall / max(1e-12, precision + recall)
            return {"micro_f1": float(f1), "exact_match": float((predicted == truth).all(axis=1).mean())}
        predicted = logits.argmax(axis=-1)
        return {"accuracy": float((predicted == labels).mean()), "macro_f1": macro_f1(predicted, labels, logits.shape[-1])}
    return metrics


def macro_f1(predicted: np.ndarray, labels: np.ndarray, num_classes: int) -> float:
    scores = []
    for c in range(num_classes):
        tp = int(((predicted == c) & (labels == c)).sum())
        fp = int(((predicted == c) & (labels != c)).sum())
        fn = int(((predicted != c) & (labels == c)).sum())
        if tp + fp + fn:
            scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else 0.0
