"""QLoRA on any machine: a 4-bit NF4 frozen base (bitsandbytes) under trainable LoRA adapters.

On a CPU two things in bitsandbytes 0.50 need correcting, both found by experiment:
- A linear weight missing from the checkpoint (e.g. a freshly initialized head) is left as a
  plain float tensor inside `Linear4bit`, and its forward then fails an assertion
  (`fix_4bit_weight_quant_state_from_module`). Such weights are quantized here.
- On CPUs with AVX512-BF16 one forward in eval mode repacks the weights for a fast inference
  kernel (`gemv_4bit`) that has no autograd: later training steps silently lose the gradient
  through the frozen layers. That path is switched off on every 4-bit layer.
On a 135M model QLoRA saves no memory (activations dominate) and is slower than LoRA on CPU;
it pays off for models whose fp32/bf16 weights do not fit (see docs/benchmarks.md).
"""

from __future__ import annotations

from typing import Any

from antrenor.errors import ConfigError


def quantization_kwargs() -> dict[str, Any]:
    """from_pretrained keyword arguments that load the base in 4-bit NF4."""
    import torch
    from transformers import BitsAndBytesConfig

    config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                bnb_4bit_compute_dtype=torch.float32)
    return {"quantization_config": config, "device_map": None if torch.cuda.is_available() else "cpu",
            "dtype": torch.float32}


def check_qlora_available() -> str | None:
    import importlib.util

    if importlib.util.find_spec("bitsandbytes") is None:
        return "method qlora needs bitsandbytes (>= 0.46.1): pip install 'antrenor[qlora]'"
    return None


def prepare_quantized_model(model: Any, gradient_checkpointing: bool) -> Any:
    """Repair the 4-bit layers (see the module docstring) and make the model ready for k-bit training."""
    import bitsandbytes as bnb
    from peft import prepare_model_for_kbit_training

    layers = [module for module in model.modules() if isinstance(module, bnb.nn.Linear4bit)]
    if not layers:
        raise ConfigError("qlora: no layer was quantized to 4 bits; is this model supported by bitsandbytes?")
    for layer in layers:
        if not isinstance(layer.weight, bnb.nn.Params4bit):
            layer.weight = bnb.nn.Params4bit(layer.weight.data, requires_grad=False, quant_type="nf4",
                                             quant_storage=layer.quant_storage).to(layer.weight.device)
        layer.support_avx512bf16_for_cpu = False
    return prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)
