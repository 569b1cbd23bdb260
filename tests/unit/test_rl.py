"""Task rl: GRPO with declared rewards on a tiny random model, and the rewards themselves."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from antrenor import train
from antrenor.errors import ConfigError
from antrenor.training.config import TrainConfig
from antrenor.training.rewards import build_rewards, import_function, length_score
from antrenor.training.rl import prompt_rows
from antrenor.training.rl_config import RLConfig

EVEN_WORDS = [f"w{i}" for i in range(0, 100, 2)]
REWARD_MODULE = '''
def even_words(completions, **columns):
    """Share of the completion's words that are w0, w2, ... w98 (about half of them for a random model)."""
    scores = []
    for completion in completions:
        words = completion[0]["content"].split()
        scores.append(sum(word.startswith("w") and int(word[1:]) % 2 == 0 for word in words) / max(1, len(words)))
    return scores
'''
FAST = {"effective_batch_size": 16, "lr": 1e-2, "report_to": [], "bf16": False, "max_length": 64}


def grpo(data, model_dir, output, rewards, max_steps=8, method="grpo", **rl):
    return train({"data": str(data), "model": str(model_dir), "output": str(output), "method": method, "task": "rl",
                  "max_steps": max_steps, "eval_steps": max_steps // 2, **FAST,
                  "rl": {"num_generations": 4, "max_completion_length": 6, "eval_prompts": 4, "rewards": rewards, **rl}})


def logged(output):
    return [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines()]


@torch.no_grad()
def first_token_even_share(model, tokenizer, records):
    """Mean probability that the answer's first token is an even word."""
    low = tokenizer.convert_tokens_to_ids(EVEN_WORDS)
    shares = []
    for row in prompt_rows(records, "instruction"):
        ids = tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=True, return_dict=False)
        probabilities = model(input_ids=torch.tensor([ids])).logits[0, -1].float().softmax(-1)
        shares.append(float(probabilities[low].sum()))
    return sum(shares) / len(shares)


@pytest.fixture
def reward_module(tmp_path, monkeypatch):
    (tmp_path / "my_rewards.py").write_text(REWARD_MODULE)
    monkeypatch.chdir(tmp_path)  # a user's reward module next to their config
    return "my_rewards:even_words"


def test_grpo_lora_logs_kl_and_rewards_and_keeps_the_reference(sft_data, tiny_llama_dir, tmp_path, reward_module):
    result = grpo(sft_data, tiny_llama_dir, tmp_path / "out", [{"type": "function", "function": reward_module}])
    rows = logged(tmp_path / "out")
    kl = [row["kl"] for row in rows if "kl" in row]
    assert kl and all(value >= 0 and value == value for value in kl) and max(kl) > 0  # KL to the reference, logged
    assert any("rewards/even_words/mean" in row for row in rows) and any("eval_reward" in row for row in rows)
    model = result.model
    adapters = {n: p for n, p in model.named_parameters() if "lora_B.default" in n}
    assert adapters and all(not torch.all(p == 0) for p in adapters.values())
    base = model.get_base_model().state_dict()
    for name, value in load_file(str(tiny_llama_dir / "model.safetensors")).items():
        key = name.replace(".weight", ".base_layer.weight")
        assert torch.equal(value, base[key if key in base else name]), name  # the reference: the base, unchanged
    assert not (tmp_path / "out" / "ref").exists()
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["task"] == "rl"
    from peft import AutoPeftModelForCausalLM

    AutoPeftModelForCausalLM.from_pretrained(tmp_path / "out")


def test_full_grpo_moves_the_policy_towards_the_reward(sft_data, tiny_llama_dir, tmp_path, reward_module):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tests.conftest import read_jsonl

    # evaluated once, at the end: the best-checkpoint pick on 4 sampled prompts is noise at this size
    result = train({"data": str(sft_data), "model": str(tiny_llama_dir), "output": str(tmp_path / "out"), "task": "rl",
                    "method": "full", "max_steps": 16, "eval_steps": 16, **{**FAST, "lr": 3e-3},
                    "rl": {"num_generations": 4, "max_completion_length": 6, "eval_prompts": 4,
                           "rewards": [{"type": "function", "function": reward_module}]}})
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "out")
    held_out = read_jsonl(sft_data / "test.jsonl")
    before = first_token_even_share(AutoModelForCausalLM.from_pretrained(tiny_llama_dir), tokenizer, held_out)
    result.model.eval()
    after = first_token_even_share(result.model, tokenizer, held_out)
    assert after > before + 0.03, (before, after)  # measured: 0.461 -> 0.508
    assert any("kl" in row for row in logged(tmp_path / "out"))  # the frozen copy served as the reference
    AutoModelForCausalLM.from_pretrained(tmp_path / "out")


def test_grpo_with_a_trained_reward_model_scores_as_the_reward_model_does(tiny_llama_dir, tmp_path):
    import random

    from antrenor.models.pair_scoring import reward_scores
    from antrenor.training.rewards import RewardModelScore
    from tests.conftest import prepared

    rng = random.Random(5)
    rows = [{"prompt": " ".join(f"w{rng.randrange(20, 100)}" for _ in range(5)),
             "chosen": f"w1 w2 w{rng.randrange(20, 100)}", "rejected": f"w7 w8 w{rng.randrange(20, 100)}"}
            for _ in range(48)]

    class Factory:  # tmp_path_factory's interface for `prepared`
        @staticmethod
        def mktemp(name):
            (tmp_path / name).mkdir()
            return tmp_path / name

    pairs = prepared(Factory, "pairs", rows)
    train({"data": str(pairs), "model": str(tiny_llama_dir), "output": str(tmp_path / "rm"), "task": "reward",
           "method": "lora", "max_steps": 6, "batch_size": 4, "effective_batch_size": 4, "lr": 1e-2, "report_to": [],
           "bf16": False, "max_length": 64})
    scorer = RewardModelScore(str(tmp_path / "rm"))
    prompts = [[{"role": "user", "content": "w30 w31"}]] * 2
    completions = [[{"role": "assistant", "content": "w1 w2 w40"}], [{"role": "assistant", "content": "w7 w8 w40"}]]
    expected = reward_scores(scorer.model, scorer.tokenizer, prompts, completions)
    assert scorer(prompts=prompts, completions=completions) == pytest.approx(expected, abs=1e-4)

    grpo(pairs, tiny_llama_dir, tmp_path / "policy", [{"type": "model", "model": str(tmp_path / "rm")},
                                                     {"type": "length", "max": 3, "weight": 0.5}], max_steps=2)
    rows = logged(tmp_path / "policy")
    assert any("rewards/reward_model/mean" in row and "rewards/length/mean" in row for row in rows)


def test_length_regex_reference_and_duplicate_names(tiny_llama_dir):
    from transformers import AutoTokenizer

    assert length_score(2, 4, 10) == 0.5 and length_score(20, 4, 10) == 0.5 and length_score(7, 4, 10) == 1.0
    assert length_score(0, None, 10) == 1.0
    specs = RLConfig(rewards=[{"type": "length", "max": 2}, {"type": "regex", "pattern": "^w1\\b"},
                              {"type": "regex", "pattern": "w9$", "full_match": True},
                              {"type": "reference"}, {"type": "reference", "metric": "exact"}]).rewards
    functions, weights = build_rewards(specs, AutoTokenizer.from_pretrained(tiny_llama_dir))
    assert [f.__name__ for f in functions] == ["length", "regex", "regex_2", "reference", "reference_2"]
    assert weights == [1.0] * 5
    completions = [[{"role": "assistant", "content": "w1 w2 w3 w9"}], [{"role": "assistant", "content": "w9"}]]
    references = ["w1 w2 w3 w9", None]
    scores = [f(prompts=[[], []], completions=completions, reference=references) for f in functions]
    assert scores[0] == [0.5, 1.0]
    assert scores[1] == [1.0, 0.0]
    assert scores[2] == [0.0, 1.0]  # full match: only "w9" is all of the completion
    assert scores[3][0] == pytest.approx(1.0) and scores[3][1] is None  # no reference: no reward (TRL: NaN)
    assert scores[4] == [1.0, None]


def test_classifier_reward_is_the_label_probability(classification_data, tiny_bert_dir, tmp_path):
    from antrenor.training.rewards import ClassifierScore
    from antrenor.training.rl_config import ClassifierReward

    train({"data": str(classification_data), "model": str(tiny_bert_dir), "output": str(tmp_path / "cls"),
           "task": "classification", "method": "full", "max_steps": 2, "report_to": [], "bf16": False})
    scorer = ClassifierScore(ClassifierReward(type="classifier", model=str(tmp_path / "cls"), label="b"))
    texts = ["w1 w2 w50", "w3 w4 w50"]
    scores = scorer(completions=[[{"role": "assistant", "content": t}] for t in texts])
    with torch.no_grad():
        probabilities = scorer.model(**scorer.tokenizer(texts, return_tensors="pt", padding=True)).logits.softmax(-1)
    assert scores == pytest.approx(probabilities[:, scorer.model.config.label2id["b"]].tolist(), abs=1e-5)
    with pytest.raises(ConfigError, match="no label 'formal'"):
        ClassifierScore(ClassifierReward(type="classifier", model=str(tmp_path / "cls"), label="formal"))


def test_reward_function_paths(tmp_path, monkeypatch, reward_module):
    assert import_function(reward_module)(completions=[[{"content": "w1 w50"}]]) == [0.5]
    assert import_function("my_rewards.even_words") is import_function(reward_module)
    with pytest.raises(ConfigError, match="cannot be imported"):
        import_function("my_rewards:missing")
    with pytest.raises(ConfigError, match="module:function"):
        import_function("low_words")


def test_rl_config_checks(sft_data, tiny_llama_dir, tmp_path):
    base = {"data": str(sft_data), "model": str(tiny_llama_dir), "output": str(tmp_path / "o")}
    cfg = TrainConfig(**base, method="grpo", rl={"rewards": [{"type": "length", "max": 5}]})
    assert (cfg.task, cfg.method, cfg.rl.algorithm) == ("rl", "lora", "grpo")
    with pytest.raises(ValueError, match="at least one reward"):
        TrainConfig(**base, method="grpo")
    with pytest.raises(ValueError, match="multiple of rl.num_generations 3"):
        TrainConfig(**base, method="grpo", rl={"num_generations": 3, "rewards": [{"type": "length", "max": 5}]})
    with pytest.raises(ValueError, match="use it with task rl"):
        TrainConfig(**base, task="sft", method="grpo")
    with pytest.raises(ValueError, match="does not compile"):
        RLConfig(rewards=[{"type": "regex", "pattern": "("}])
    with pytest.raises(ValueError, match="min, max or both"):
        RLConfig(rewards=[{"type": "length"}])
    with pytest.raises(ValueError, match="tag"):  # unknown reward type: pydantic names the accepted ones
        RLConfig(rewards=[{"type": "vibes"}])
    with pytest.raises(ConfigError, match="model reward"):  # a missing reward model is found before training
        train({**base, "method": "grpo", "rl": {"rewards": [{"type": "model", "model": str(tmp_path / "missing")}]}})


def test_prompt_rows_keep_the_answer_as_reference():
    chat = {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"},
                         {"role": "assistant", "content": "a"}]}
    assert prompt_rows([chat], "chat") == [{"prompt": chat["messages"][:2], "reference": "a"}]
    assert prompt_rows([{"instruction": "q", "output": "a"}], "instruction")[0]["reference"] == "a"
    assert prompt_rows([{"prompt": "q", "chosen": "c", "rejected": "r"}], "preference") == [
        {"prompt": [{"role": "user", "content": "q"}], "reference": "c"}]


def test_reward_model_flag_adds_to_the_declared_rewards(tmp_path):
    from antrenor.cli import build_parser, train_flags
    from antrenor.config import load_config

    (tmp_path / "rl.yaml").write_text("train:\n  rl:\n    rewards:\n      - {type: length, max: 9}\n")
    args = build_parser().parse_args(["train", "--config", str(tmp_path / "rl.yaml"), "--data", "d", "--model", "m",
                                      "--output", "o", "--method", "grpo", "--reward-model", "rm1",
                                      "--reward-model", "rm2", "--set", "rl.beta=0.1"])
    cfg = load_config(TrainConfig, args.config, args.overrides, train_flags(args))
    assert [r.type for r in cfg.rl.rewards] == ["length", "model", "model"]
    assert [getattr(r, "model", None) for r in cfg.rl.rewards] == [None, "rm1", "rm2"]
    assert cfg.rl.beta == 0.1 and cfg.task == "rl"
