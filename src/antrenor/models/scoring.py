"""Forward-pass scores shared by metrics, OOD detection and forgetting.

- `token_losses`: per-example summed next-token loss and token count (causal LMs), for
  perplexity on answers only (the training mask) or on whole texts.
- `class_logits`: classifier logits in batches, for predictions, max-softmax and energy scores.
- `mean_pooled_embeddings`: sentence embeddings from an encoder (a linear probe, STS forgetting).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from antrenor.models.chat import IGNORE, encode_conversation
from antrenor.records.kinds import to_messages


def answer_features(records: list[dict[str, Any]], kind: str, tokenizer: Any, max_length: int) -> list[dict[str, list[int]]]:
    """input_ids/labels with labels on the assistant answers only (as trained); long prompts cut from the left."""
    features = []
    for record in records:
        ids, labels = encode_conversation(to_messages(record, kind), tokenizer)
        features.append({"input_ids": ids[-max_length:], "labels": labels[-max_length:]})
    return features


def text_features(texts: Sequence[str], tokenizer: Any, max_length: int) -> list[dict[str, list[int]]]:
    features = []
    for text in texts:
        ids = tokenizer(text, truncation=True, max_length=max_length)["input_ids"]
        features.append({"input_ids": ids, "labels": list(ids)})
    return features


def token_losses(model: Any, features: list[dict[str, list[int]]], batch_size: int = 8,
                 on_batch: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(summed loss, labelled tokens) per example; examples without labelled tokens score (0, 0)."""
    import torch
    import torch.nn.functional as F

    losses, counts = np.zeros(len(features)), np.zeros(len(features), dtype=np.int64)
    order = sorted(range(len(features)), key=lambda i: len(features[i]["input_ids"]))
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        width = max(len(features[i]["input_ids"]) for i in batch)
        ids = torch.zeros((len(batch), width), dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, index in enumerate(batch):
            n = len(features[index]["input_ids"])
            ids[row, :n] = torch.tensor(features[index]["input_ids"])
            labels[row, :n] = torch.tensor(features[index]["labels"])
            mask[row, :n] = 1
        targets = labels[:, 1:]
        keep = targets != IGNORE
        with torch.inference_mode():
            logits = labelled_logits(model, ids, mask, keep)
        per_token = torch.zeros(targets.shape)
        per_token[keep] = F.cross_entropy(logits, targets[keep], reduction="none")
        for row, index in enumerate(batch):
            losses[index] = float(per_token[row].sum())
            counts[index] = int(keep[row].sum())
        if on_batch:
            on_batch(len(batch))
    return losses, counts


def labelled_logits(model: Any, ids: Any, mask: Any, keep: Any) -> Any:
    """fp32 next-token logits at the positions `keep` marks (shape: kept positions x vocabulary).

    The output head runs on those positions only: for an answer of 20 tokens after a 1,000-token k-shot prompt,
    Gemma's 262K-word head on every position would hold 8 x 1,000 x 262K fp32 logits (8 GB) to use 2 %."""
    causal = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = causal.get_decoder() if hasattr(causal, "get_decoder") else None
    head = causal.get_output_embeddings() if hasattr(causal, "get_output_embeddings") else None
    if decoder is None or head is None:
        return model(input_ids=ids, attention_mask=mask, use_cache=False).logits[:, :-1][keep].float()
    hidden = decoder(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state[:, :-1]
    logits = head(hidden[keep]).float()
    softcap = getattr(causal.config, "final_logit_softcapping", None)
    return torch_tanh_cap(logits, softcap) if softcap else logits


def torch_tanh_cap(logits: Any, cap: float) -> Any:
    """Gemma 2's final logit soft-capping, as its forward applies it."""
    import torch

    return torch.tanh(logits / cap) * cap


def class_logits(model: Any, tokenizer: Any, inputs: Sequence[str | tuple[str, str]], max_length: int = 512,
                 batch_size: int = 32, on_batch: Callable[[int], None] | None = None) -> np.ndarray:
    """Logits for texts or (text_a, text_b) pairs, in input order."""
    import torch

    rows = []
    for start in range(0, len(inputs), batch_size):
        chunk = list(inputs[start : start + batch_size])
        if chunk and isinstance(chunk[0], tuple):
            encoded = tokenizer([a for a, _ in chunk], [b for _, b in chunk], truncation=True, max_length=max_length,
                                padding=True, return_tensors="pt")
        else:
            encoded = tokenizer(chunk, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
        with torch.inference_mode():
            rows.append(model(**encoded).logits.float().numpy())
        if on_batch:
            on_batch(len(chunk))
    width = getattr(model.config, "num_labels", 1)
    return np.concatenate(rows) if rows else np.zeros((0, width))


def mean_pooled_embeddings(encoder: Any, tokenizer: Any, texts: Sequence[str], max_length: int = 256,
                           batch_size: int = 32, on_batch: Callable[[int], None] | None = None) -> np.ndarray:
    """Attention-masked mean of the last hidden states: how sentence-transformers pool MiniLM."""
    import torch

    rows = []
    for start in range(0, len(texts), batch_size):
        encoded = tokenizer(list(texts[start : start + batch_size]), truncation=True, max_length=max_length,
                            padding=True, return_tensors="pt")
        with torch.inference_mode():
            hidden = encoder(**encoded, output_hidden_states=True).hidden_states[-1].float()
        mask = encoded["attention_mask"].unsqueeze(-1).float()
        rows.append(((hidden * mask).sum(1) / mask.sum(1).clamp(min=1)).numpy())
        if on_batch:
            on_batch(len(encoded["input_ids"]))
    return np.concatenate(rows) if rows else np.zeros((0, 0))
