"""Whether a run uses bf16: decided once, used by model loading and by the Trainer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


def cpu_supports_bf16() -> bool:
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def use_bf16(cfg: Any) -> bool:
    """bf16 autocast roughly doubles matmul speed on CPUs with AVX512-BF16, but slows the 4-bit path down."""
    if cfg.bf16 is not None:
        return cfg.bf16
    return cpu_supports_bf16() and cfg.method != "qlora"
