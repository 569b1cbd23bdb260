"""Preference tuning of SmolLM2-135M on the demo pairs (data/demo/legal-preference): the issue-5 checks.

Held-out pairs come from the test codes (the constitution, the fiscal procedure code); each rejected title
is a real title of another article of the same code. Both checks are one-sided sign tests at p < 0.05 on
16 pairs (12 of 16 or more).
"""

from __future__ import annotations

import pytest

from antrenor import prepare, train
from antrenor.evaluation.preference_eval import pair_margins, reward_accuracy
from antrenor.models.registry import load_tokenizer
from tests.conftest import DEMO, read_jsonl, write_jsonl

pytestmark = pytest.mark.integration
HELD_OUT = read_jsonl(DEMO / "legal-preference" / "test.jsonl")[:16]


def prepared_pairs(folder, count):
    source = write_jsonl(folder / "pairs.jsonl", read_jsonl(DEMO / "legal-preference" / "train.jsonl")[:count])
    prepare({"input": [str(source)], "output": str(folder / "data"), "split": {"validation": 0.0, "test": 0.0},
             "dedup": {"near": False}})
    return folder / "data"


def test_dpo_widens_the_held_out_margin_of_chosen_over_rejected(tmp_path):
    data = prepared_pairs(tmp_path, 32)
    result = train({"data": str(data), "model": "smollm2-135m-instruct", "method": "dpo", "output": str(tmp_path / "out"),
                    "epochs": 1, "batch_size": 2, "effective_batch_size": 8, "lr": 2e-4, "max_length": 512,
                    "report_to": []})
    tokenizer = load_tokenizer("smollm2-135m-instruct")
    tuned = pair_margins(result.model, tokenizer, HELD_OUT)
    with result.model.disable_adapter():  # the base model: DPO's reference
        base = pair_margins(result.model, tokenizer, HELD_OUT)
    assert sum(tuned) / len(tuned) > sum(base) / len(base)
    assert sum(t > b for t, b in zip(tuned, base)) >= 12


def test_reward_model_ranks_held_out_pairs_better_than_chance(tmp_path):
    data = prepared_pairs(tmp_path, 48)
    result = train({"data": str(data), "model": "smollm2-135m-instruct", "task": "reward", "method": "lora",
                    "output": str(tmp_path / "out"), "epochs": 2, "batch_size": 4, "effective_batch_size": 8,
                    "lr": 3e-4, "max_length": 512, "report_to": []})
    accuracy = reward_accuracy(result.model, load_tokenizer("smollm2-135m-instruct"), HELD_OUT)
    assert accuracy >= 12 / 16, f"pairwise accuracy {accuracy:.2f} on 16 held-out pairs"
