"""Elastic weight consolidation (Kirkpatrick et al., 2017).

Before fine-tuning, the diagonal of the Fisher information is estimated on general
reference text: F_i = E[(d log p / d theta_i)^2]. Training then adds
    weight/2 * sum_i F_i * (theta_i - theta_i_start)^2,
so the parameters that matter for general text move least. Only trainable parameters take
part (with LoRA: the adapter, anchored at its initialization). Memory: two extra copies of
the trainable parameters (Fisher and anchors): small for adapters, 2x weights for full.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch


class EwcPenalty:
    def __init__(self, fisher: dict[str, torch.Tensor], anchors: dict[str, torch.Tensor], weight: float):
        self.fisher, self.anchors, self.weight = fisher, anchors, weight

    def __call__(self, model: torch.nn.Module) -> torch.Tensor:
        total = None
        for name, parameter in model.named_parameters():
            if name in self.fisher:
                term = (self.fisher[name] * (parameter - self.anchors[name]) ** 2).sum()
                total = term if total is None else total + term
        if total is None:
            return torch.zeros(())
        return 0.5 * self.weight * total


def estimate_fisher(model: torch.nn.Module, batches: Iterable[dict[str, torch.Tensor]],
                    loss_of: Callable[[torch.nn.Module, dict[str, torch.Tensor]], torch.Tensor]) -> dict[str, torch.Tensor]:
    """Mean squared gradient of the loss per trainable parameter, one batch at a time."""
    trainable = {name: p for name, p in model.named_parameters() if p.requires_grad}
    fisher = {name: torch.zeros_like(p, dtype=torch.float32) for name, p in trainable.items()}
    was_training = model.training
    model.eval()  # no dropout: the Fisher of the model as it is
    count = 0
    for batch in batches:
        model.zero_grad(set_to_none=True)
        loss_of(model, batch).backward()
        for name, parameter in trainable.items():
            if parameter.grad is not None:
                fisher[name] += parameter.grad.detach().float() ** 2
        count += 1
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    return {name: value / max(1, count) for name, value in fisher.items()}


def build_penalty(model: torch.nn.Module, batches: Iterable[dict[str, Any]], loss_of, weight: float) -> EwcPenalty:
    fisher = estimate_fisher(model, batches, loss_of)
    anchors = {name: p.detach().clone() for name, p in model.named_parameters() if name in fisher}
    return EwcPenalty(fisher, anchors, weight)
