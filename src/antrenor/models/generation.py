"""Batched, deterministic generation for chat/instruction models.

Prompts are rendered with the model's own chat template (as in training), sorted by length and
generated in batches with left padding and the KV cache: on this 2-core CPU that is several
times faster than one prompt at a time (benchmarks/eval_bench.py). Greedy decoding, so the
same model and prompts always give the same answers; generation stops at EOS or the template's
end-of-turn token. A reasoning model's `<think>...</think>` block (Qwen3, DeepSeek-R1's distills, whose
prompt opens the block) is left out of the answer.

    >>> answers = generate_answers(model, tokenizer, prompt_ids(records, "instruction", tokenizer), max_new_tokens=32)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from antrenor.models.chat import end_of_turn_ids


def pad_token_id(tokenizer: Any) -> int:
    """The id generation pads with: the tokenizer's pad token, else its EOS."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def left_padded(prompts: list[list[int]], pad_id: int) -> tuple[Any, Any]:
    """(input_ids, attention_mask) tensors, prompts padded on the left so every row's answer starts at one column."""
    import torch

    width = max(len(p) for p in prompts)
    ids = torch.tensor([[pad_id] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    return ids, mask


def generate_answers(model: Any, tokenizer: Any, prompts: list[list[int]], max_new_tokens: int = 64,
                     batch_size: int = 8, on_batch: Callable[[int], None] | None = None) -> list[str]:
    """Greedy answers to token-id prompts, in the prompts' order."""
    import torch
    from transformers import GenerationConfig

    pad_id = pad_token_id(tokenizer)
    config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, use_cache=True,
                              eos_token_id=end_of_turn_ids(tokenizer), pad_token_id=pad_id)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # similar lengths share a batch: little padding
    answers: list[str] = [""] * len(prompts)
    model.config.use_cache = True
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        ids, mask = left_padded([prompts[i] for i in batch], pad_id)
        width = ids.shape[1]
        with torch.inference_mode(), contiguous_head_input(model):
            output = model.generate(input_ids=ids, attention_mask=mask, generation_config=config)
        for row, index in enumerate(batch):
            answers[index] = without_reasoning(tokenizer.decode(output[row, width:], skip_special_tokens=True), tokenizer)
        if on_batch:
            on_batch(len(batch))
    return answers


@contextmanager
def contiguous_head_input(model: Any) -> Iterator[None]:
    """Give the output head a contiguous input while generating.

    At the first step generate() runs the head on the last position only, a strided view of the hidden states.
    With torch 2.13 on CPU, a linear layer whose weight is frozen (requires_grad False: every model that PEFT
    loaded and merged) and whose bf16 input is strided takes a slow path: 4.2 s instead of 15 ms for Gemma 3's
    262K-word head and a batch of 8, once per batch, which made the tuned model's eval 3-4 times slower than
    the base's (docs/benchmarks.md). A copy of 8 x 640 numbers avoids it.
    """
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is None:
        yield
        return
    handle = head.register_forward_pre_hook(lambda _module, args: (args[0].contiguous(), *args[1:]) if args else None)
    try:
        yield
    finally:
        handle.remove()


def without_reasoning(text: str, tokenizer: Any) -> str:
    """The answer after a `</think>` that closes a reasoning block, when `</think>` is a token of this vocabulary."""
    if "</think>" in text and tokenizer.convert_tokens_to_ids("</think>") not in (None, tokenizer.unk_token_id):
        text = text.split("</think>", 1)[1]
    return text.strip()
