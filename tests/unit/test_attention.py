"""The recomputed eager attention used for training on CPU: same values and gradients as eager attention."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, BertConfig, BertForSequenceClassification, LlamaConfig, LlamaForCausalLM

from antrenor.training import attention
from antrenor.training.attention import NAME, RecomputedAttention, _eager_attention, attention_for_training


def _inputs(dtype=torch.float64, batch=2, heads=4, kv_heads=2, length=7, dim=8, seed=0):
    generator = torch.Generator().manual_seed(seed)
    query = torch.randn(batch, heads, length, dim, dtype=dtype, generator=generator, requires_grad=True)
    key = torch.randn(batch, kv_heads, length, dim, dtype=dtype, generator=generator, requires_grad=True)
    value = torch.randn(batch, kv_heads, length, dim, dtype=dtype, generator=generator, requires_grad=True)
    allowed = torch.ones(length, length, dtype=torch.bool).tril()[None, None].repeat(batch, 1, 1, 1)
    allowed[1, :, :, :2] = False  # the second row is left-padded by two tokens
    mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill(~allowed, torch.finfo(dtype).min)  # as transformers builds it
    return query, key, value, mask


def test_gradients_match_finite_differences_with_grouped_heads_and_padding():
    query, key, value, mask = _inputs()
    # finite differences cannot see through -1.8e308 (a step of 1e-6 vanishes in it): a finite mask for the check
    mask = mask.clamp(min=-1e4)
    assert torch.autograd.gradcheck(lambda q, k, v: RecomputedAttention.apply(q, k, v, mask, 0.3), (query, key, value))


def test_values_and_gradients_equal_eager_attention():
    query, key, value, mask = _inputs()
    upstream = torch.randn(2, 4, 7, 8, dtype=torch.float64)
    ours = RecomputedAttention.apply(query, key, value, mask, 0.35)
    our_grads = torch.autograd.grad((ours * upstream).sum(), (query, key, value))
    reference = _eager_attention(query, key, value, mask, 0.35, 0.0, None)
    reference_grads = torch.autograd.grad((reference * upstream).sum(), (query, key, value))
    torch.testing.assert_close(ours, reference)
    for mine, theirs in zip(our_grads, reference_grads):
        torch.testing.assert_close(mine, theirs)


def test_saves_only_its_inputs_for_the_backward_pass():
    """The point of the function: no heads x tokens^2 matrix is kept between forward and backward."""
    query, key, value, mask = _inputs(length=64)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.shape) or t, lambda t: t):
        RecomputedAttention.apply(query, key, value, mask, 0.3).sum().backward()
    assert saved and all(shape[-1] != 64 or shape[-2] != 64 or shape == mask.shape for shape in saved)
    assert max(torch.Size(s).numel() for s in saved) <= max(query.numel(), mask.numel())


def _tiny_llama(implementation: str, seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    attention.register()
    model = LlamaForCausalLM(config)
    model.set_attn_implementation(implementation)
    return model


def _loss_and_grads(model, **inputs):
    model.zero_grad()
    loss = model(**inputs, labels=inputs["input_ids"], use_cache=False).loss
    loss.backward()
    return loss.detach(), {name: p.grad.clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("packed", [False, True])
def test_a_llama_trains_the_same_as_with_eager_attention(packed):
    """Padded batches, and packed rows (position ids restart per example, no attention across them)."""
    ids = torch.randint(0, 64, (2, 12), generator=torch.Generator().manual_seed(1))
    if packed:
        inputs = {"input_ids": ids[:1], "position_ids": torch.tensor([[0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 5, 6]])}
    else:
        inputs = {"input_ids": ids, "attention_mask": torch.tensor([[1] * 12, [0] * 3 + [1] * 9])}
    loss, grads = _loss_and_grads(_tiny_llama(NAME), **inputs)
    eager_loss, eager_grads = _loss_and_grads(_tiny_llama("eager"), **inputs)
    torch.testing.assert_close(loss, eager_loss, atol=1e-6, rtol=1e-5)
    for name, grad in grads.items():
        torch.testing.assert_close(grad, eager_grads[name], atol=1e-6, rtol=1e-4, msg=name)


def test_packed_examples_do_not_attend_to_each_other():
    model = _tiny_llama(NAME)
    first, second = torch.tensor([[5, 6, 7, 8]]), torch.tensor([[9, 10, 11]])
    with torch.no_grad():
        # without a cache, as in training: transformers detects packed rows only then
        packed = model(input_ids=torch.cat([first, second], 1), position_ids=torch.tensor([[0, 1, 2, 3, 0, 1, 2]]),
                       use_cache=False).logits
        alone = model(input_ids=second, use_cache=False).logits
    torch.testing.assert_close(packed[0, 4:], alone[0], atol=1e-5, rtol=1e-5)


def test_attention_dropout_takes_the_checkpointed_path_with_the_same_random_state():
    query, key, value, mask = _inputs(dtype=torch.float32)
    module = torch.nn.Module().train()
    torch.manual_seed(3)
    ours, _ = attention.recomputed_attention(module, query, key, value, mask, scaling=0.3, dropout=0.5)
    our_grads = torch.autograd.grad(ours.sum(), (query, key, value))
    torch.manual_seed(3)
    reference = _eager_attention(query, key, value, mask, 0.3, 0.5, None).transpose(1, 2)
    reference_grads = torch.autograd.grad(reference.sum(), (query, key, value))
    torch.testing.assert_close(ours, reference)
    for mine, theirs in zip(our_grads, reference_grads):
        torch.testing.assert_close(mine, theirs)


def test_training_switch_restores_the_models_own_and_saved_folders_load_with_stock_transformers(tmp_path):
    model = _tiny_llama("sdpa")
    with attention_for_training(model, "auto") as used:
        assert used == NAME and model.config._attn_implementation == NAME
        model.save_pretrained(tmp_path)  # a checkpoint written mid-training
    assert model.config._attn_implementation == "sdpa"
    assert NAME not in json.dumps(json.loads((tmp_path / "config.json").read_text()))
    AutoModelForCausalLM.from_pretrained(tmp_path)  # would raise on an unknown attention name


def test_auto_keeps_the_models_own_attention_where_dropout_needs_it():
    bert = BertForSequenceClassification(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1,
                                                    num_attention_heads=2, intermediate_size=32))
    assert attention.training_choice(bert, "auto") is None  # BERT's attention dropout 0.1
    assert attention.training_choice(bert, "recompute") == NAME
    assert attention.training_choice(_tiny_llama("sdpa"), "sdpa") == "sdpa"


def test_bf16_autocast_reaches_the_decoder_in_the_labelled_positions_loss(sft_data, tiny_llama_dir, tmp_path,
                                                                          monkeypatch):
    """The causal-LM loss calls the decoder directly, past the autocast accelerate wraps around forward()."""
    from antrenor import train
    from antrenor.training import run

    seen = []
    build = run.build_trainer

    def spying_build(cfg, model, *args, **kwargs):
        layer = (model.get_base_model() if hasattr(model, "get_base_model") else model).model.layers[0].mlp.down_proj
        layer.register_forward_hook(lambda module, inputs, output: seen.append(output.dtype) if module.training else None)
        return build(cfg, model, *args, **kwargs)

    monkeypatch.setattr(run, "build_trainer", spying_build)
    train({"data": str(sft_data), "model": str(tiny_llama_dir), "output": str(tmp_path / "out"), "task": "sft",
           "method": "full", "max_steps": 1, "batch_size": 4, "effective_batch_size": 4, "report_to": [], "bf16": True})
    assert seen and set(seen) == {torch.bfloat16}
