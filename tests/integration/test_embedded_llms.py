"""Every embedded causal LM speaks through its own turn tokens: no special-token text ever reaches an answer,
and a model tuned on short answers stops at its end-of-turn token."""

import json

import pytest

from antrenor import prepare, train
from antrenor.models.chat import end_of_turn_ids, prompt_ids
from antrenor.models.generation import generate_answers
from antrenor.models.loading import load_base, load_tuned
from antrenor.models.registry import REGISTRY
from tests.conftest import write_jsonl

pytestmark = pytest.mark.integration

EMBEDDED_LLMS = [alias for alias, entry in REGISTRY.items() if entry.embedded and entry.architecture == "causal-lm"]
MARKERS = ("<start_of_turn>", "<end_of_turn>", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<eos>", "<bos>", "</s>")
QUESTIONS = ["Care este capitala României?", "Propune un titlu scurt: Dreptul de proprietate este garantat.",
             "Scrie o propoziție despre munți.", "Ce înseamnă cuvântul «lege»?"]


def test_the_embedded_llms_are_gemma3_and_smollm2():
    assert set(EMBEDDED_LLMS) == {"gemma3-270m", "smollm2-135m-instruct"}
    assert REGISTRY["gemma3-270m"].license.startswith("Gemma")


@pytest.mark.parametrize("alias", EMBEDDED_LLMS)
def test_answers_hold_no_special_token_text(alias):
    loaded = load_base(alias, "sft", None, trust_remote_code=False, allow_pickle=False, bf16=True)
    records = [{"messages": [{"role": "user", "content": q}]} for q in QUESTIONS]
    prompts = prompt_ids(records, "chat", loaded.tokenizer)
    answers = generate_answers(loaded.model, loaded.tokenizer, prompts, max_new_tokens=24, batch_size=4)
    assert all(answer.strip() for answer in answers), answers
    assert not [a for a in answers if any(marker in a for marker in MARKERS)], answers
    stop = loaded.tokenizer.convert_tokens_to_ids("<end_of_turn>" if alias.startswith("gemma") else "<|im_end|>")
    assert stop in end_of_turn_ids(loaded.tokenizer)
    if alias.startswith("gemma"):  # plain `generate()` stops there too, as llama.cpp and transformers users run it
        assert stop in loaded.model.generation_config.eos_token_id


def test_gemma_tuned_on_short_answers_stops_at_its_end_of_turn(tmp_path):
    rows = [{"instruction": f"Răspunde cu un cuvânt: este {n} un număr par?", "output": "Da" if n % 2 == 0 else "Nu"}
            for n in range(48)]
    prepare({"input": [str(write_jsonl(tmp_path / "yes-no.jsonl", rows))], "output": str(tmp_path / "data"),
             "model": "gemma3-270m", "split": {"validation": 0, "test": 0.25}})
    train({"data": str(tmp_path / "data"), "model": "gemma3-270m", "task": "sft", "method": "lora",
           "output": str(tmp_path / "model"), "max_steps": 12, "batch_size": 4, "effective_batch_size": 4, "lr": 1e-3,
           "max_length": 64, "report_to": [], "validation": False})
    saved = json.loads((tmp_path / "model" / "tokenizer_config.json").read_text())
    assert "chat_template" in saved or (tmp_path / "model" / "chat_template.jinja").exists()
    tuned = load_tuned(str(tmp_path / "model"), "sft", trust_remote_code=False, allow_pickle=False, bf16=True)
    tests = [json.loads(line) for line in (tmp_path / "data" / "test.jsonl").read_text().splitlines()]
    prompts = prompt_ids(tests, "instruction", tuned.tokenizer)
    answers = generate_answers(tuned.model, tuned.tokenizer, prompts, max_new_tokens=16, batch_size=6)
    assert all(answer in ("Da", "Nu") for answer in answers), answers  # stopped right after its one word
