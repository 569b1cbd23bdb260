"""`antrenor eval` for aligned models on tiny random models: reward models, DPO-tuned LMs against their
base (held-out margins, answers judged by a reward model, win rate), and the curves their training logged."""

from __future__ import annotations

import json

import numpy as np
import pytest

from antrenor import evaluate, train
from antrenor.errors import ConfigError
from tests.conftest import read_jsonl
from tests.unit.test_preference import FAST, preference_data  # noqa: F401  (a fixture)


@pytest.fixture(scope="module")
def dpo_model(tmp_path_factory, preference_data, tiny_llama_dir):  # noqa: F811
    output = tmp_path_factory.mktemp("eval-dpo") / "dpo"
    train({"data": str(preference_data), "model": str(tiny_llama_dir), "output": str(output), **FAST,
           "method": "dpo", "max_steps": 12, "lr": 1e-2})
    return output


@pytest.fixture(scope="module")
def reward_model(tmp_path_factory, preference_data, tiny_llama_dir):  # noqa: F811
    """A LoRA reward model (adapter + trained score head) that learned to prefer answers starting "w1 w2 w3"."""
    output = tmp_path_factory.mktemp("eval-reward") / "reward"
    train({"data": str(preference_data), "model": str(tiny_llama_dir), "output": str(output), **FAST,
           "task": "reward", "method": "lora", "max_steps": 12, "lr": 1e-2})
    return output


@pytest.fixture(scope="module")
def unmerged_reward_model(reward_model):
    """The reward model as PEFT loads it (adapter kept, not merged), independently of antrenor's loading."""
    from peft import AutoPeftModelForSequenceClassification
    from transformers import AutoTokenizer

    model = AutoPeftModelForSequenceClassification.from_pretrained(reward_model, num_labels=1).eval()
    tokenizer = AutoTokenizer.from_pretrained(reward_model)
    model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def _within(figure):
    low, high = figure["ci95"]
    return low <= figure["value"] <= high


def test_dpo_eval_compares_margins_and_judged_answers_with_the_base(tmp_path, dpo_model, reward_model,
                                                                     unmerged_reward_model, preference_data):  # noqa: F811
    from antrenor.models.pair_scoring import reward_scores

    result = evaluate({"models": [str(dpo_model)], "data": str(preference_data), "output": str(tmp_path / "eval"),
                       "judge": str(reward_model), "suite": ["metrics"], "max_new_tokens": 4, "bootstrap_samples": 200})
    summary = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert summary["task"] == "preference" and summary["headline"] == "reward"
    tuned, base = summary["models"]["dpo"], summary["models"]["base"]
    for entry in (tuned, base):
        assert {"margin", "chosen_over_rejected", "reward"} <= set(entry["metrics"])
        assert all(_within(figure) for figure in entry["metrics"].values())
    # DPO widened the held-out margin of chosen over rejected
    assert tuned["metrics"]["margin"]["value"] > base["metrics"]["margin"]["value"]
    # the judge really is the trained reward model (adapter merged, head loaded): it ranks held-out pairs well
    assert summary["judge"]["pairwise_accuracy"]["value"] > 0.8

    rows = read_jsonl(tmp_path / "eval" / "predictions.jsonl")
    test_size = len(read_jsonl(preference_data / "test.jsonl"))
    by_model = {label: [r for r in rows if r["model"] == label] for label in ("base", "dpo")}
    assert all(len(found) == test_size for found in by_model.values())
    base_rewards = np.array([r["reward"] for r in by_model["base"]])
    tuned_rewards = np.array([r["reward"] for r in by_model["dpo"]])
    base_margins = np.array([r["margin"] for r in by_model["base"]])
    tuned_margins = np.array([r["margin"] for r in by_model["dpo"]])
    assert tuned["metrics"]["reward"]["value"] == pytest.approx(tuned_rewards.mean())
    assert base["metrics"]["margin"]["value"] == pytest.approx(base_margins.mean())
    # each answer's reward is the reward model's score of the prompt and that answer, one at a time
    model, tokenizer = unmerged_reward_model
    direct = reward_scores(model, tokenizer, [[{"role": "user", "content": r["prompt"]}] for r in rows],
                           [[{"role": "assistant", "content": r["prediction"]}] for r in rows], batch_size=1)
    np.testing.assert_allclose([r["reward"] for r in rows], direct, rtol=1e-4, atol=1e-4)

    compared = tuned["alignment_vs_base"]
    wins = compared["win_rate"]
    expected = np.where(tuned_rewards > base_rewards, 1.0, np.where(tuned_rewards == base_rewards, 0.5, 0.0)).mean()
    assert 0.0 <= wins["value"] <= 1.0 and wins["value"] == pytest.approx(expected)
    assert wins["wins"] == int((tuned_rewards > base_rewards).sum())
    assert wins["wins"] + wins["ties"] + wins["losses"] == test_size
    assert _within(wins) and 0 < wins["p_value"] <= 1
    assert wins["value"] > 0.5  # the tuned model answers the way the judge (trained on the same pairs) prefers
    change = compared["margin_change"]
    assert change["mean"] == pytest.approx((tuned_margins - base_margins).mean())
    assert change["rose_share"] == pytest.approx((tuned_margins > base_margins).mean())
    assert change["ci95"][0] <= change["mean"] <= change["ci95"][1]
    assert change["mean"] > 0

    logged = read_jsonl(dpo_model / "metrics.jsonl")
    last_margin = [row["rewards/margins"] for row in logged if "rewards/margins" in row][-1]
    assert tuned["training_curves"]["rewards/margins"]["final"] == pytest.approx(last_margin)
    assert "eval_rewards/margins" in tuned["training_curves"]
    assert "training_curves" not in base
    markdown, html = result.report_md.read_text(), result.report_html.read_text()
    assert "## Alignment" in markdown and "win rate" in markdown and "rewards/margins" in markdown
    assert "reward, margin and KL curves of dpo" in html


def test_reward_eval_gives_the_pairwise_accuracy_computed_directly(tmp_path, reward_model, unmerged_reward_model,
                                                                   preference_data):  # noqa: F811
    from antrenor.models.pair_scoring import pair_rewards

    result = evaluate({"models": [str(reward_model)], "data": str(preference_data), "output": str(tmp_path / "eval"),
                       "bootstrap_samples": 200})
    summary = result.metrics
    assert summary["task"] == "reward" and summary["base"] is None and summary["headline"] == "pairwise_accuracy"
    assert any("untrained" in note for note in summary["notes"])
    entry = summary["models"]["reward"]

    model, tokenizer = unmerged_reward_model
    records = read_jsonl(preference_data / "test.jsonl")
    chosen, rejected = pair_rewards(model, tokenizer, records, batch_size=1)  # one pair at a time, unmerged adapter
    gaps = np.array(chosen) - np.array(rejected)
    assert entry["metrics"]["pairwise_accuracy"]["value"] == pytest.approx((gaps > 0).mean())
    assert entry["metrics"]["reward_gap"]["value"] == pytest.approx(gaps.mean(), abs=1e-4)
    assert entry["metrics"]["pairwise_accuracy"]["value"] > 0.8  # it learned the pattern
    assert _within(entry["metrics"]["pairwise_accuracy"])
    assert {"eval_accuracy", "eval_margin"} <= set(entry["training_curves"])
    rows = read_jsonl(tmp_path / "eval" / "predictions.jsonl")
    assert [r["ranked_correctly"] for r in rows] == list(gaps > 0)


def test_rl_eval_on_instruction_data_judges_answers_without_margins(tmp_path, sft_data, tiny_llama_dir, reward_model):
    """The same model as base and tuned: every answer is the same, so every verdict is a tie (win rate 0.5)."""
    result = evaluate({"models": [str(tiny_llama_dir)], "base": str(tiny_llama_dir), "task": "rl",
                       "data": str(sft_data), "output": str(tmp_path / "eval"), "judge": str(reward_model),
                       "max_examples": 6, "max_new_tokens": 3, "bootstrap_samples": 100,
                       "forgetting": {"max_lines": 5, "probes": False}})
    summary = result.metrics
    tuned = next(m for m in summary["models"].values() if m["role"] == "tuned")
    assert set(tuned["metrics"]) == {"reward"} and "margin_change" not in tuned["alignment_vs_base"]
    assert tuned["alignment_vs_base"]["win_rate"] | {"ci95": None, "test": None} == {
        "value": 0.5, "ci95": None, "wins": 0, "ties": 6, "losses": 0, "p_value": 1.0, "test": None}
    assert "perplexity_general_ro" in tuned["forgetting_vs_base"]  # an LM: forgetting still measured
    assert any("robustness, ood skipped" in note for note in summary["notes"])
    assert "judge" in summary and "pairwise_accuracy" not in summary["judge"]  # no pairs to check the judge on


def test_batched_scores_equal_one_at_a_time(tiny_llama_dir, reward_model, preference_data):  # noqa: F811
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from antrenor.models.loading import load_judge
    from antrenor.models.pair_scoring import pair_log_probs, pair_rewards

    records = read_jsonl(preference_data / "train.jsonl")[:7]
    records[0] = {**records[0], "chosen": records[0]["chosen"] + " w4 w5 w6 w7"}  # lengths differ: padding is used
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_dir)
    np.testing.assert_allclose(pair_log_probs(model, tokenizer, records, batch_size=4),
                               pair_log_probs(model, tokenizer, records, batch_size=1), rtol=1e-5, atol=1e-4)
    judge = load_judge(str(reward_model), trust_remote_code=False, allow_pickle=False)
    np.testing.assert_allclose(pair_rewards(judge.model, judge.tokenizer, records, batch_size=4),
                               pair_rewards(judge.model, judge.tokenizer, records, batch_size=1), rtol=1e-5, atol=1e-4)


def test_grpo_style_log_gives_reward_and_kl_curves_with_final_values():
    from antrenor.evaluation import charts
    from antrenor.evaluation.alignment_compare import final_curve_values, training_curves

    log = [{"step": s, "epoch": s / 10, "loss": 0.1, "reward": 0.1 * s, "reward_std": 0.2, "kl": 0.01 * s,
            "rewards/length/mean": 0.5 + 0.01 * s, "rewards/length/std": 0.1, "completions/mean_length": 12.0}
           for s in (1, 2, 3)] + [{"step": 3, "eval_reward": 0.4, "eval_kl": 0.05}]
    curves = training_curves(log)
    assert {key for series in curves.values() for key in series} == {
        "reward", "rewards/length/mean", "kl", "eval_reward", "eval_kl"}
    assert set(curves) == {"reward", "KL"}
    finals = final_curve_values(log)
    assert finals["reward"] == {"first": 0.1, "final": pytest.approx(0.3), "step": 3, "points": 3}
    assert finals["eval_kl"]["final"] == 0.05
    assert charts.alignment_curves(curves)


def test_win_rate_counts_ties_half_and_tests_only_decided_prompts():
    from types import SimpleNamespace

    from antrenor.evaluation.alignment_compare import win_rate

    cfg = SimpleNamespace(bootstrap_samples=200, seed=0)
    figures = win_rate(np.array([2.0, 1.0, 0.5, 3.0]), np.array([1.0, 1.0, 0.7, 0.0]), cfg)
    assert (figures["wins"], figures["ties"], figures["losses"]) == (2, 1, 1)
    assert figures["value"] == pytest.approx((1 + 0.5 + 0 + 1) / 4)
    assert figures["p_value"] == pytest.approx(1.0)  # 2 wins vs 1 loss: no evidence
    sweep = win_rate(np.ones(10), np.zeros(10), cfg)
    assert sweep["value"] == 1.0 and sweep["p_value"] == pytest.approx(2 / 2**10)


def test_a_judge_outside_preference_and_rl_is_refused_before_loading(tmp_path, classification_data, sft_data,
                                                                      tiny_bert_dir, tiny_llama_dir):
    with pytest.raises(ConfigError, match="applies to tasks preference and rl, not classification"):
        evaluate({"models": [str(tiny_bert_dir)], "base": "none", "data": str(classification_data),
                  "output": str(tmp_path / "a"), "judge": str(tiny_llama_dir)})  # task from the data kind
    with pytest.raises(ConfigError, match="applies to tasks preference and rl, not sft"):
        evaluate({"models": [str(tiny_llama_dir)], "task": "sft", "data": str(sft_data), "output": str(tmp_path / "b"),
                  "judge": str(tiny_llama_dir)})
    with pytest.raises(ConfigError, match="--judge DIR"):  # no pairs, no judge: nothing would compare the models
        evaluate({"models": [str(tiny_llama_dir)], "task": "preference", "data": str(sft_data),
                  "output": str(tmp_path / "c")})
    with pytest.raises(ConfigError, match="task reward is scored on held-out preference pairs"):
        evaluate({"models": [str(tiny_llama_dir)], "task": "reward", "data": str(sft_data), "output": str(tmp_path / "d")})
    assert not (tmp_path / "a" / "metrics.json").exists()


def test_terminal_lines_give_margin_change_and_win_rate():
    from antrenor.evaluation.alignment_report import win_rate_lines

    summary = {"models": {"base": {}, "dpo": {"alignment_vs_base": {
        "margin_change": {"mean": 0.944, "ci95": [0.533, 1.411], "p_value": 0.002, "rose_share": 0.71875, "pairs": 32},
        "win_rate": {"value": 0.515625, "ci95": [0.375, 0.65625], "wins": 12, "ties": 9, "losses": 11, "p_value": 1.0}}}}}
    lines = win_rate_lines(summary)
    assert lines[0] == ("dpo vs base: margin log p(chosen) - log p(rejected) +0.944 nats per held-out pair "
                        "(95 % CI +0.533 to +1.411; p 0.002); rose on 72% of 32 pairs")
    assert lines[1].startswith("dpo vs base: win rate 0.52 (95 % CI 0.38-0.66; 12 wins, 9 ties, 11 losses")
