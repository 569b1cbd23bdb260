"""Reward models and preference tuning (DPO, IPO, SimPO, ORPO, KTO) on tiny random models."""

from __future__ import annotations

import json
import random

import pytest
import torch
from safetensors.torch import load_file

from antrenor import train
from antrenor.errors import ConfigError
from antrenor.training.config import TrainConfig

FAST = {"max_steps": 4, "batch_size": 4, "effective_batch_size": 4, "lr": 5e-3, "report_to": [], "bf16": False,
        "eval_steps": 2, "max_length": 64}


@pytest.fixture(scope="module")
def preference_data(tmp_path_factory):
    """Pairs whose chosen answer always starts "w1 w2 w3" and whose rejected answer starts "w7 w8 w9"."""
    from tests.conftest import prepared

    rng = random.Random(5)
    rows = []
    for i in range(48):
        prompt = " ".join(f"w{rng.randrange(20, 100)}" for _ in range(5))
        tail = " ".join(f"w{rng.randrange(20, 100)}" for _ in range(2))
        rows.append({"prompt": prompt, "chosen": f"w1 w2 w3 {tail}", "rejected": f"w7 w8 w9 {tail}"})
    return prepared(tmp_path_factory, "preference", rows)


def run(data, model_dir, output, **overrides):
    return train({"data": str(data), "model": str(model_dir), "output": str(output), **FAST, **overrides})


@pytest.mark.parametrize("algorithm", ["dpo", "ipo", "simpo", "orpo", "kto"])
def test_each_algorithm_trains_the_adapter_and_leaves_the_reference_untouched(preference_data, tiny_llama_dir,
                                                                              tmp_path, algorithm):
    result = run(preference_data, tiny_llama_dir, tmp_path / "out", method=algorithm)
    logged = [json.loads(line) for line in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    losses = [row["loss"] for row in logged if "loss" in row]
    assert losses and all(torch.isfinite(torch.tensor(losses)))
    model = result.model
    adapters = {n: p for n, p in model.named_parameters() if "lora_B.default" in n}
    assert adapters and all(not torch.all(p == 0) for p in adapters.values())  # B starts at zero: it moved
    base = model.get_base_model().state_dict()
    for name, value in load_file(str(tiny_llama_dir / "model.safetensors")).items():
        key = name.replace(".weight", ".base_layer.weight")
        assert torch.equal(value, base[key if key in base else name]), name  # the reference: the base, unchanged
    from peft import AutoPeftModelForCausalLM

    reloaded = AutoPeftModelForCausalLM.from_pretrained(tmp_path / "out")
    ids = torch.tensor([[10, 11, 12]])
    model.eval()
    torch.testing.assert_close(reloaded(input_ids=ids).logits, model(input_ids=ids).logits, atol=1e-5, rtol=1e-4)
    import yaml

    config = yaml.safe_load((tmp_path / "out" / "train_config.yaml").read_text())["train"]
    assert config["task"] == "preference" and config["preference"]["algorithm"] == algorithm
    assert not (tmp_path / "out" / "ref").exists()  # no copy of the adapter as the reference


def test_dpo_widens_the_chosen_over_rejected_margin(preference_data, tiny_llama_dir, tmp_path):
    result = run(preference_data, tiny_llama_dir, tmp_path / "out", method="dpo", max_steps=12, lr=1e-2)
    logged = [json.loads(line) for line in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    margins = [row["eval_rewards/margins"] for row in logged if "eval_rewards/margins" in row]
    assert margins[-1] > 0.05 and margins[-1] > margins[0]
    assert result.metrics["eval_rewards/accuracies"] > 0.9


def test_full_dpo_updates_the_weights(preference_data, tiny_llama_dir, tmp_path):
    result = run(preference_data, tiny_llama_dir, tmp_path / "out", task="preference", method="full")
    before = load_file(str(tiny_llama_dir / "model.safetensors"))
    after = result.model.state_dict()
    assert not torch.equal(before["model.layers.0.mlp.up_proj.weight"], after["model.layers.0.mlp.up_proj.weight"])
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(tmp_path / "out")


@pytest.mark.parametrize("method", ["lora", "full"])
def test_reward_model_learns_to_rank_held_out_pairs(preference_data, tiny_llama_dir, tmp_path, method):
    result = run(preference_data, tiny_llama_dir, tmp_path / "out", task="reward", method=method, max_steps=12, lr=1e-2)
    assert result.metrics["eval_accuracy"] > 0.9
    from transformers import AutoModelForSequenceClassification

    if method == "full":
        model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "out")
    else:
        from peft import AutoPeftModelForSequenceClassification

        labels = json.loads((tmp_path / "out" / "labels.json").read_text())  # {"num_labels": 1}: the reward head
        model = AutoPeftModelForSequenceClassification.from_pretrained(tmp_path / "out", **labels)
    assert model.config.num_labels == 1


def test_method_dpo_is_short_for_task_preference_with_lora():
    cfg = TrainConfig(data="d", model="m", output="o", method="orpo")
    assert (cfg.task, cfg.method, cfg.preference.algorithm) == ("preference", "lora", "orpo")
    assert cfg.preference.resolved_beta == 0.1
    with pytest.raises(ValueError, match="use it with task preference"):
        TrainConfig(data="d", model="m", output="o", task="sft", method="dpo")


def test_reward_needs_preference_pairs(sft_data, tiny_llama_dir, tmp_path):
    with pytest.raises(ConfigError, match="preference"):
        run(sft_data, tiny_llama_dir, tmp_path / "out", task="reward")
