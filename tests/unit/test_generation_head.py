"""The output head gets a contiguous input while generating (models/generation.py: contiguous_head_input).

A frozen bf16 linear layer given a strided input takes a slow path in torch 2.13 on CPU (measured: 4.2 s instead
of 15 ms for Gemma 3's head, once per batch); generate() feeds the head such a view at its first step."""

import torch
from transformers import AutoModelForCausalLM

from antrenor.models.generation import contiguous_head_input, generate_answers


def test_the_head_sees_a_contiguous_input_during_generation_and_the_hook_is_removed(tiny_llama_dir, tiny_tokenizer):
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval()
    model.requires_grad_(False)  # as a LoRA model merged after loading is
    head = model.get_output_embeddings()
    seen = []
    strided = torch.randn(2, 5, head.in_features)[:, -1:, :]
    assert not strided.is_contiguous()
    with contiguous_head_input(model):
        recorder = head.register_forward_pre_hook(lambda _m, args: seen.append(args[0].is_contiguous()))
        out = head(strided)
        recorder.remove()
    assert seen == [True]
    assert torch.allclose(out, torch.nn.functional.linear(strided.contiguous(), head.weight))  # same numbers
    assert not head._forward_pre_hooks  # nothing left on the model after the block

    recorded = []
    recorder = head.register_forward_hook(lambda _m, args, _out: recorded.append(args[0].is_contiguous()))
    ids = tiny_tokenizer("salut lume", add_special_tokens=False)["input_ids"]
    answers = generate_answers(model, tiny_tokenizer, [ids, ids[:1]], max_new_tokens=3, batch_size=2)
    recorder.remove()
    assert len(answers) == 2 and recorded and all(recorded)
    assert not head._forward_pre_hooks
