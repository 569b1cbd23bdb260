"""Task `classification`: sequence classification, single-label, multi-label, or pair scoring.

- `{text, label}`: single-label (cross-entropy), accuracy and macro-F1.
- `{text, labels: [...]}`: multi-label (sigmoid, binary cross-entropy), micro-F1 and exact match.
- `{text_a, text_b, label}`: pair classification; `{text_a, text_b, score}`: regression (MSE), Pearson r.
The label mapping is saved in the model's config (id2label/label2id) and in labels.json.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from antrenor.errors import ConfigError, DataError

KINDS = ("classification", "pairs")
HEAD = "sequence-classification"


def problem_type(records: list[dict[str, Any]]) -> str:
    first = records[0]
    if "score" in first:
        return "regression"
    if "labels" in first:
        return "multi_label_classification"
    return "single_label_classification"


def check_trainable_labels(data: Path, labels: list[Any], kind_of_problem: str) -> None:
    """A single-label classifier needs two labels in train: with one, every prediction is that label, the loss
    falls to 0 and validation accuracy reads 1.0 - perfect figures for a model that learned nothing. So it is an
    error, not a warning."""
    if kind_of_problem == "single_label_classification" and len(labels) < 2:
        found = f"every training record has the label {labels[0]!r}" if labels else "no training record has a label"
        raise DataError(f"{data / 'train.jsonl'}: {found}: a classifier needs at least two labels to learn anything "
                        "(with one it reaches loss 0 and accuracy 1 while learning nothing)",
                        problems=[("add records of the other labels, or check that prepare read the right label "
                                   "column (--set columns.label=NAME)")])


def check_head_fits(model: str, data: Path, labels: list[Any], kind_of_problem: str) -> None:
    """A saved classifier's head has one output per label it was trained on: other data needs another count."""
    from antrenor.models.registry import resolve_model

    config_file = Path(resolve_model(model).location) / "config.json"
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # a hub id not downloaded, or no config: the loader reports it
    if not any(str(a).endswith("ForSequenceClassification") for a in config.get("architectures") or []):
        return
    saved = config.get("id2label") or {}
    saved_count = config.get("num_labels") or len(saved) or 2
    wanted = 1 if kind_of_problem == "regression" else len(labels)
    if saved_count == wanted:
        return
    saved_names = ", ".join(str(saved[k]) for k in sorted(saved, key=lambda k: int(k))) if saved else "unnamed"
    base = ""
    manifest = Path(resolve_model(model).location) / "manifest.json"
    if manifest.is_file():
        base = json.loads(manifest.read_text(encoding="utf-8")).get("base_model") or ""
    raise ConfigError(
        f"{model} is a classifier with {saved_count} labels ({saved_names}), but {data} has {wanted} "
        f"({', '.join(map(str, labels)) or 'a score'}): its classification head cannot be trained on them",
        problems=[f"train from its base model{f' ({base})' if base else ''} to get a new head for these labels",
                  f"or continue it on data with its {saved_count} labels"])


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


PROBE_EXAMPLES = 2000  # at most this many training examples fit the head's starting probe


def head_layer(model: Any, num_labels: int) -> Any:
    """The linear layer that writes the class logits (BERT `classifier`, RoBERTa `classifier.out_proj`,
    decoder `score`), or None when the head has another shape."""
    import torch

    found = None
    for name, module in model.named_modules():
        if (isinstance(module, torch.nn.Linear) and module.out_features == num_labels
                and any(part in name for part in ("classifier", "score", "out_proj"))):
            found = module  # the last one in module order is the output layer
    return found


def trained_head_in_checkpoint(model: Any) -> bool:
    """True when the loaded checkpoint already was a sequence classifier: its head is trained, not new."""
    return any(str(a).endswith("ForSequenceClassification") for a in (getattr(model.config, "architectures", None) or []))


def init_head_from_probe(model: Any, features: list[dict[str, Any]], collator: Any, kind_of_problem: str,
                         seed: int = 42, batch_size: int = 32) -> float | None:
    """Linear probing, then fine-tuning: set the new head to a logistic-regression (or ridge) probe fitted on the
    frozen model's own head inputs for the training examples. Fine-tuning then starts where a linear probe on the
    frozen model ends, instead of sending a random head's gradients through the body (Kumar et al., 2022).

    Returns the probe's training accuracy (R^2 for regression), or None when it does not apply (multi-label,
    a head whose input is per token, fewer than two classes present)."""
    import random

    import torch

    if kind_of_problem == "multi_label_classification" or not features:
        return None
    num_labels = model.config.num_labels
    layer = head_layer(model, num_labels)
    if layer is None:
        return None
    chosen = features if len(features) <= PROBE_EXAMPLES else random.Random(seed).sample(features, PROBE_EXAMPLES)
    captured: list[torch.Tensor] = []
    hook = layer.register_forward_hook(lambda module, inputs, output: captured.append(inputs[0].detach().float()))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(chosen), batch_size):
                batch = collator([{k: v for k, v in f.items() if k != "labels"} for f in chosen[start:start + batch_size]])
                model(**{k: v.to(model.device) for k, v in batch.items()})
    finally:
        hook.remove()
        model.train(was_training)
    if not captured or captured[0].dim() != 2:
        return None  # e.g. a decoder's score layer runs on every token before pooling
    inputs = torch.cat(captured).cpu().numpy()
    targets = np.array([f["labels"] for f in chosen])
    return _fit_and_copy(layer, inputs, targets, kind_of_problem, num_labels)


def _fit_and_copy(layer: Any, inputs: np.ndarray, targets: np.ndarray, kind_of_problem: str, num_labels: int) -> float | None:
    """Fit on the raw head inputs with the usual L2 penalty (C=1) and copy the fit into the layer.

    Raw, not standardized, inputs on purpose: standardizing MiniLM's pooler outputs fitted the training split
    perfectly with weights 27x larger (norm 223 against 8.3), whose gradients through the body (norm 239
    against 0.6 for a random head) undid the encoder in the first steps: 88.3 % on penal-civil against 92.5 %."""
    import torch
    from sklearn.linear_model import LogisticRegression, Ridge

    has_bias = layer.bias is not None
    if kind_of_problem == "regression":
        probe = Ridge(alpha=1.0, fit_intercept=has_bias).fit(inputs, targets)
        rows, intercept, present = probe.coef_.reshape(1, -1), np.atleast_1d(probe.intercept_), [0]
    else:
        present = np.unique(targets)
        if len(present) < 2:
            return None
        probe = LogisticRegression(max_iter=2000, fit_intercept=has_bias).fit(inputs, targets)
        if len(present) == 2:  # one decision function: split it between the two logits
            rows = np.vstack([-probe.coef_[0] / 2, probe.coef_[0] / 2])
            intercept = np.array([-probe.intercept_[0] / 2, probe.intercept_[0] / 2]) if has_bias else np.zeros(2)
        else:
            rows, intercept = probe.coef_, (probe.intercept_ if has_bias else np.zeros(len(present)))
    weight = np.zeros((num_labels, inputs.shape[1]))
    weight[present] = rows
    bias = np.full(num_labels, float(np.min(intercept)) - 10.0)  # a label never seen in train starts unlikely
    bias[present] = intercept
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(weight, dtype=layer.weight.dtype))
        if has_bias:
            layer.bias.copy_(torch.as_tensor(bias, dtype=layer.bias.dtype))
    return float(probe.score(inputs, targets))
