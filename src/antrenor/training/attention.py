"""Attention for training on CPU: eager matmuls, with the small matrices recomputed in the backward pass.

PyTorch's CPU flash-attention kernel is slow in the backward pass: in one LoRA step of SmolLM2 at
450 tokens it took 36 % of the time (0.46 s of 1.26 s). Two bf16 matmuls and a softmax do the same
work in a third of that, which is why plain eager attention trains faster here. But eager keeps
each layer's probability matrix twice (fp32 for the softmax, bf16 for the matmul: heads x tokens^2
each) for the backward pass: +0.4 GB at 450 tokens on SmolLM2.

`RecomputedAttention` keeps only q, k and v, like flash attention, and recomputes the scores and
probabilities in its backward pass (one matmul and a softmax: about 5 % of a step). Grouped-query
attention is computed without copying k and v per query head. The mask is transformers' additive
eager mask, so causal, padding, packed-sequence and sliding-window masks all work.

Attention dropout or logit soft-capping (BERT's 0.1 dropout while training, Gemma 2's cap) take
the plain eager formula under an activation checkpoint instead: same memory, same random state
in the recomputation, a slower backward.

Registered with transformers as "antrenor_recompute" (attention and mask interfaces). The
training run switches to it and back (`attention_for_training`), so saved configs never carry the name
and every folder antrenor writes loads with stock transformers.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

NAME = "antrenor_recompute"


def _probabilities(scaled_query: torch.Tensor, key: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Softmax (in fp32 at least) of (q * scaling) k^T + mask, shaped [batch, kv_heads, groups * q_len, k_len].

    Query heads are grouped by the kv head they share, so k is never copied per query head.
    """
    batch, heads, q_len, dim = scaled_query.shape
    kv_heads, k_len = key.shape[1], key.shape[2]
    groups = heads // kv_heads
    scores = torch.matmul(scaled_query.reshape(batch, kv_heads, groups * q_len, dim), key.transpose(-1, -2))
    if mask is not None:  # the additive mask in the model's dtype, as eager attention adds it
        scores = (scores.view(batch, kv_heads, groups, q_len, k_len) + mask[:, :, None, :, :k_len])
        scores = scores.view(batch, kv_heads, groups * q_len, k_len)
    return torch.softmax(scores, dim=-1, dtype=torch.promote_types(scores.dtype, torch.float32))


class RecomputedAttention(torch.autograd.Function):
    """softmax(q k^T * scaling + mask) v for q [b, h, q, d] and k, v [b, kv_heads, k, d]; returns [b, h, q, d]."""

    @staticmethod
    def forward(ctx: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, mask: torch.Tensor | None,
                scaling: float) -> torch.Tensor:
        with torch.autocast(query.device.type, enabled=False):
            # the projections arrive as [batch, len, heads, dim] transposed: matmuls want them contiguous
            key, value = key.to(query.dtype).contiguous(), value.to(query.dtype).contiguous()
            scaled_query = (query * scaling).contiguous()
            probs = _probabilities(scaled_query, key, mask)
            output = torch.matmul(probs.to(query.dtype), value).view(query.shape)
        ctx.save_for_backward(scaled_query, key, value, mask)
        ctx.scaling = scaling
        return output

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        scaled_query, key, value, mask = ctx.saved_tensors
        with torch.autocast(grad_output.device.type, enabled=False):
            probs = _probabilities(scaled_query, key, mask)
            dtype = scaled_query.dtype
            grad_out = grad_output.to(dtype).reshape(*probs.shape[:3], -1)
            grad_value = torch.matmul(probs.to(dtype).transpose(-1, -2), grad_out)
            grad_probs = torch.matmul(grad_out, value.transpose(-1, -2))
            grad_scores = torch._softmax_backward_data(grad_probs.to(probs.dtype), probs, -1, probs.dtype).to(dtype)
            grad_query = torch.matmul(grad_scores, key).view(scaled_query.shape) * ctx.scaling
            grad_key = torch.matmul(grad_scores.transpose(-1, -2), scaled_query.reshape(*probs.shape[:3], -1))
        return grad_query, grad_key.to(key.dtype), grad_value.to(value.dtype), None, None


def _eager_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, mask: torch.Tensor | None,
                     scaling: float, dropout: float, softcap: float | None) -> torch.Tensor:
    groups = query.shape[1] // key.shape[1]
    if groups > 1:
        key, value = key.repeat_interleave(groups, dim=1), value.repeat_interleave(groups, dim=1)
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    if softcap:
        scores = torch.tanh(scores / softcap) * softcap
    if mask is not None:
        scores = scores + mask[:, :, :, : key.shape[-2]]
    probs = torch.softmax(scores, dim=-1, dtype=torch.promote_types(scores.dtype, torch.float32)).to(query.dtype)
    if dropout:
        probs = F.dropout(probs, p=dropout, training=True)
    return torch.matmul(probs, value)


def recomputed_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                         attention_mask: torch.Tensor | None, scaling: float | None = None, dropout: float = 0.0,
                         softcap: float | None = None, **kwargs: Any) -> tuple[torch.Tensor, None]:
    """transformers' attention signature: q [batch, heads, q_len, dim], k/v [batch, kv_heads, k_len, dim]."""
    if kwargs.get("s_aux") is not None:
        raise NotImplementedError(f"{NAME} does not support attention sinks; set attn_implementation: sdpa")
    scaling = query.shape[-1] ** -0.5 if scaling is None else scaling
    dropout = dropout if module.training else 0.0
    if not (torch.is_grad_enabled() and any(t.requires_grad for t in (query, key, value))):
        output = _eager_attention(query, key, value, attention_mask, scaling, 0.0, softcap)
    elif dropout or softcap:
        output = checkpoint(_eager_attention, query, key, value, attention_mask, scaling, dropout, softcap,
                            use_reentrant=False)
    else:
        output = RecomputedAttention.apply(query, key, value, attention_mask, scaling)
    return output.transpose(1, 2).contiguous(), None


def register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, eager_mask

    AttentionInterface.register(NAME, recomputed_attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, eager_mask)


def supports(model: Any) -> bool:
    """Whether the model dispatches attention through transformers' interface (Llama, Qwen, BERT, ...)."""
    return bool(getattr(model, "_supports_attention_backend", False)) and hasattr(model, "set_attn_implementation")


def _attention_dropout(config: Any) -> float:
    return float(getattr(config, "attention_dropout", 0.0) or getattr(config, "attention_probs_dropout_prob", 0.0) or 0.0)


def training_choice(model: Any, setting: str) -> str | None:
    """The implementation to train with, or None to keep the model's own.

    auto: the recomputed eager attention on CPU for models without attention dropout (measured faster there at
    the memory of flash attention); the model's own elsewhere (GPUs have fast fused kernels).
    """
    if setting != "auto":
        return NAME if setting == "recompute" else setting
    if torch.cuda.is_available() or not supports(model) or _attention_dropout(model.config):
        return None
    return NAME


@contextmanager
def attention_for_training(model: Any, setting: str) -> Iterator[str | None]:
    """Switch `model` (or a peft model's base) to the chosen attention for the block; restore its own on exit.

    Yields the implementation used while training (None: the model's own).
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    choice = training_choice(base, setting)
    if choice is None or not supports(base):
        yield None
        return
    if choice == NAME:
        register()
    before = base.config._attn_implementation or "sdpa"
    base.set_attn_implementation(choice)
    try:
        yield choice
    finally:
        base.set_attn_implementation(before)
