"""Whether this machine computes fast in bf16: decided once, used by model loading, training and serving."""

from __future__ import annotations

from pathlib import Path


def cpu_supports_bf16() -> bool:
    """True on a CUDA GPU with bf16, or a CPU with AVX512-BF16 or AMX (where bf16 autocast roughly doubles matmul speed)."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
