"""Batching: packed rows (no padding at all) or padded batches.

Packing flattens a batch of examples into one row and restarts `position_ids` at 0 for
each example. transformers detects the restarts and builds a block-diagonal causal mask,
so packed examples never attend to each other (tests/unit/test_collate.py checks that the
logits of a packed row equal those of each example alone). The first label of each
example is ignored, so no example learns to predict the start of the next.
"""

from __future__ import annotations

from typing import Any

import torch

IGNORE = -100


class PackedCollator:
    """[example, example, ...] -> one row: input_ids, labels, position_ids of shape [1, total]."""

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        input_ids, labels, positions = [], [], []
        for feature in features:
            ids = list(feature["input_ids"])
            input_ids += ids
            example_labels = list(feature.get("labels", ids))
            labels += [IGNORE] + example_labels[1:]
            positions += list(range(len(ids)))
        return {
            "input_ids": torch.tensor([input_ids]),
            "labels": torch.tensor([labels]),
            "position_ids": torch.tensor([positions]),
        }


class PaddedCollator:
    """Right-pads input_ids (pad id), labels (IGNORE) and builds the attention mask."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        longest = max(len(f["input_ids"]) for f in features)
        batch: dict[str, list[list[int]]] = {"input_ids": [], "labels": [], "attention_mask": []}
        for feature in features:
            ids = list(feature["input_ids"])
            padding = longest - len(ids)
            batch["input_ids"].append(ids + [self.pad_token_id] * padding)
            batch["labels"].append(list(feature.get("labels", ids)) + [IGNORE] * padding)
            batch["attention_mask"].append([1] * len(ids) + [0] * padding)
        return {key: torch.tensor(value) for key, value in batch.items()}
