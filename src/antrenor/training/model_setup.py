"""What every task's setup returns (TaskSetup), and the training model load they all share (load_model).

A leaf of the training package: tasks.py, preference.py and rl.py import it, it imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from antrenor.models.loading import load_pretrained
from antrenor.training import qlora
from antrenor.training.config import TrainConfig
from antrenor.training.precision import use_bf16

FROZEN_BASE_METHODS = ("lora", "ia3")


@dataclass
class TaskSetup:
    model: Any
    head: str
    train_features: list[dict[str, Any]]
    eval_features: list[dict[str, Any]]
    collator: Any
    compute_metrics: Any = None
    language_model: bool = False
    labels: dict[str, Any] = field(default_factory=dict)
    location: str = ""


def load_model(cfg: TrainConfig, head: str, **kwargs: Any) -> tuple[Any, str]:
    """The base model for training, in the precision its method needs; returns it and where it was loaded from."""
    import torch

    if cfg.method == "qlora":
        kwargs.update(qlora.quantization_kwargs())
    elif head == "causal-lm" and cfg.method in FROZEN_BASE_METHODS and use_bf16(cfg) and cfg.task != "reward":
        # The whole causal LM is frozen under the adapters: it needs no fp32 master weights. bf16
        # halves its memory and spares autocast a bf16 copy of every weight; peft keeps the adapters
        # in fp32. (Not for classification: its new head trains and needs fp32.)
        kwargs["dtype"] = torch.bfloat16
    else:
        # Weights that train keep fp32 masters (bf16 only inside autocast): most hub models, and the
        # embedded SmolLM2, are stored in bf16, and transformers would otherwise load them as they
        # are stored; bf16 weights round small updates (lr x grad) away.
        kwargs["dtype"] = torch.float32
    model, resolved = load_pretrained(cfg.model, head, trust_remote_code=cfg.trust_remote_code,
                                      allow_pickle=cfg.allow_pickle, **kwargs)
    if cfg.method == "qlora":
        model = qlora.prepare_quantized_model(model, cfg.gradient_checkpointing)
    return model, resolved.location
