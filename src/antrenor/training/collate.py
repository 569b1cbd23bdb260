"""Batching: packed rows or padded batches. Both count the real (non-padding) tokens they emit.

Packing puts the examples of a micro-batch into rows of at most `row_length` tokens
(first-fit decreasing) and restarts `position_ids` at 0 for each example. Without an
attention mask and without a KV cache, transformers detects the restarts and builds a
block-diagonal causal mask, so packed examples never attend to each other
(tests/unit/test_collate.py checks logits and loss against each example alone). Rows are
filled up to the longest row with a filler segment of its own (labels ignored). Rows stay
short on purpose: masked attention costs the square of the row length, so one giant row
of the whole batch is slower than several rows of max_length. The first label of each
example is ignored, so no example learns to predict the start of the next.
"""

from __future__ import annotations

from typing import Any

import torch

IGNORE = -100


class PackedCollator:
    """[example, ...] -> input_ids, labels, position_ids of shape [rows, longest row]; no attention_mask."""

    def __init__(self, row_length: int, pad_token_id: int):
        self.row_length, self.pad_token_id = row_length, pad_token_id
        self.real_tokens = 0

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        rows: list[list[dict[str, Any]]] = []
        sizes: list[int] = []
        for feature in sorted(features, key=lambda f: -len(f["input_ids"])):
            size = len(feature["input_ids"])
            slot = next((i for i, used in enumerate(sizes) if used + size <= self.row_length), None)
            if slot is None:
                rows.append([feature])
                sizes.append(size)
            else:
                rows[slot].append(feature)
                sizes[slot] += size
        longest = max(sizes)
        batch: dict[str, list[list[int]]] = {"input_ids": [], "labels": [], "position_ids": []}
        for row, used in zip(rows, sizes):
            input_ids, labels, positions = [], [], []
            for feature in row:
                ids = list(feature["input_ids"])
                input_ids += ids
                labels += [IGNORE] + list(feature.get("labels", ids))[1:]
                positions += list(range(len(ids)))
            filler = longest - used
            batch["input_ids"].append(input_ids + [self.pad_token_id] * filler)
            batch["labels"].append(labels + [IGNORE] * filler)
            batch["position_ids"].append(positions + list(range(filler)))
        self.real_tokens += sum(sizes)
        return {key: torch.tensor(value) for key, value in batch.items()}


class PaddedCollator:
    """Right-pads input_ids (pad id), labels (IGNORE) and builds the attention mask."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id
        self.real_tokens = 0

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        longest = max(len(f["input_ids"]) for f in features)
        batch: dict[str, list[list[int]]] = {"input_ids": [], "labels": [], "attention_mask": []}
        for feature in features:
            ids = list(feature["input_ids"])
            padding = longest - len(ids)
            batch["input_ids"].append(ids + [self.pad_token_id] * padding)
            batch["labels"].append(list(feature.get("labels", ids)) + [IGNORE] * padding)
            batch["attention_mask"].append([1] * len(ids) + [0] * padding)
            self.real_tokens += len(ids)
        return {key: torch.tensor(value) for key, value in batch.items()}
