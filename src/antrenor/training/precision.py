"""Whether a training run uses bf16: decided once, used by model loading and by the Trainer."""

from __future__ import annotations

from typing import Any

from antrenor.models.precision import cpu_supports_bf16


def use_bf16(cfg: Any) -> bool:
    """bf16 autocast roughly doubles matmul speed on CPUs with AVX512-BF16, but slows the 4-bit path down."""
    if cfg.bf16 is not None:
        return cfg.bf16
    return cpu_supports_bf16() and cfg.method != "qlora"
