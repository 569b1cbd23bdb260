"""ONNX export of classifiers and causal LMs (with the key/value cache), and the parity check.

optimum-onnx would do this, but its releases pin transformers < 4.58 and antrenor runs on 5.x,
so the export uses torch.onnx (the TorchScript exporter: it traces the model once with example
inputs and marks batch and sequence axes dynamic). Causal LMs are exported with attention in
eager mode and the cache as explicit tensors, named as optimum names them, so ONNX Runtime
users find the usual interface:

    inputs   input_ids, attention_mask, position_ids, past_key_values.{i}.key / .value
    outputs  logits, present.{i}.key / .value     (past: batch x kv_heads x past_len x head_dim)

The first step passes empty past tensors (past_len 0); each later step feeds the presents back.
Classifiers: input_ids, attention_mask (+ token_type_ids if the tokenizer makes them) -> logits.
The legacy exporter writes one file, which protobuf caps at 2 GB (about 500M fp32 parameters).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from antrenor.errors import AntrenorError

ONNX_FILE = "model.onnx"


def cache_shape(config: Any) -> tuple[int, int, int]:
    """(layers, key/value heads, head dim) of a decoder config."""
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    return config.num_hidden_layers, kv_heads, head_dim


def past_names(layers: int) -> tuple[list[str], list[str]]:
    past = [f"past_key_values.{i}.{part}" for i in range(layers) for part in ("key", "value")]
    present = [f"present.{i}.{part}" for i in range(layers) for part in ("key", "value")]
    return past, present


def export_classifier(model: Any, batch: dict[str, Any], path: Path, opset: int) -> list[str]:
    """Write `path`; returns the input names (the tokenizer's outputs the graph takes)."""
    import torch

    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in batch]

    class Logits(torch.nn.Module):
        def __init__(self, inner: Any):
            super().__init__()
            self.inner = inner

        def forward(self, *tensors: Any) -> Any:
            return self.inner(**dict(zip(names, tensors))).logits

    axes = {name: {0: "batch", 1: "sequence"} for name in names} | {"logits": {0: "batch"}}
    with eager_attention(model):
        # .eval() on the wrapper: the exporter restores the wrapper's mode afterwards, and a new Module is in
        # training mode, which would switch dropout on in the model it wraps
        _export(Logits(model).eval(), tuple(batch[n] for n in names), path, names, ["logits"], axes, opset)
    return names


def export_causal_lm(model: Any, batch: dict[str, Any], path: Path, opset: int) -> list[str]:
    """Write `path` (logits and cache in, logits and cache out); returns the input names."""
    import torch
    from transformers import DynamicCache

    config = model.config
    layers, kv_heads, head_dim = cache_shape(config)
    past, present = past_names(layers)

    class WithCache(torch.nn.Module):
        def __init__(self, inner: Any):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, position_ids: Any, *flat_past: Any) -> Any:
            cache = DynamicCache(config=config)
            for layer in range(layers):
                cache.update(flat_past[2 * layer], flat_past[2 * layer + 1], layer)
            out = self.inner(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                             past_key_values=cache, use_cache=True)
            flat = [t for layer in out.past_key_values.layers for t in (layer.keys, layer.values)]
            return (out.logits, *flat)

    ids, mask = batch["input_ids"], batch["attention_mask"]
    size, past_length = ids.shape[0], 2  # trace with a non-empty past so the concatenation is in the graph
    dummy_past = [torch.zeros(size, kv_heads, past_length, head_dim) for _ in past]
    full_mask = torch.cat([torch.ones(size, past_length, dtype=mask.dtype), mask], dim=1)
    positions = position_ids_for(full_mask)[:, past_length:]
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "total"},
            "position_ids": {0: "batch", 1: "sequence"}, "logits": {0: "batch", 1: "sequence"}}
    axes |= {name: {0: "batch", 2: "past"} for name in past} | {name: {0: "batch", 2: "total"} for name in present}
    inputs = ["input_ids", "attention_mask", "position_ids", *past]
    with eager_attention(model):
        _export(WithCache(model).eval(), (ids, full_mask, positions, *dummy_past), path, inputs, ["logits", *present],
                axes, opset)
    return inputs


@contextmanager
def eager_attention(model: Any) -> Iterator[None]:
    """Eager attention while tracing: sdpa's mask handling takes Python branches on the example inputs
    (e.g. drops an all-ones mask), which a trace would freeze into the graph."""
    before = getattr(model.config, "_attn_implementation", None) or "sdpa"
    model.set_attn_implementation("eager")
    try:
        yield
    finally:
        model.set_attn_implementation(before)


def position_ids_for(mask: Any) -> Any:
    """Positions that skip left padding: what generate() computes from the attention mask."""
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


def _export(module: Any, args: tuple, path: Path, inputs: list[str], outputs: list[str], axes: dict, opset: int) -> None:
    import warnings

    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".onnx.partial")
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer warnings about Python branches: the parity check is the judge
            torch.onnx.export(module, args, str(temporary), input_names=inputs, output_names=outputs,
                              dynamic_axes=axes, opset_version=opset, dynamo=False, do_constant_folding=True)
    except Exception as exc:  # exporter failures are long and deep; keep the first line and say what to try
        temporary.unlink(missing_ok=True)
        raise AntrenorError(f"ONNX export failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                            problems=["try another opset (--set opset=18)",
                                      "or export with format safetensors and serve with the torch backend"]) from None
    temporary.replace(path)
