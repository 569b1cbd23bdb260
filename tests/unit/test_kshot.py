"""The k-shot baseline's prompts: solved training examples before the query, as many as fit."""

from antrenor.evaluation.kshot import choose_shots, shot_turns, with_shots
from antrenor.models.chat import conversation_prompt_ids, split_conversation
from tests.conftest import tiny_word_tokenizer

TRAIN = [{"instruction": " ".join(f"w{(i + j) % 90}" for j in range(2 + i % 5)), "input": "", "output": f"w{i}"}
         for i in range(40)]
QUERIES = [{"instruction": "w1 w2 w3", "input": "", "output": "w4"}]


def test_auto_k_takes_the_most_examples_that_fit_the_budget():
    tokenizer = tiny_word_tokenizer()
    roomy = choose_shots(TRAIN, "instruction", tokenizer, QUERIES, "auto", max_k=8, budget=1000, answer_tokens=4, seed=0)
    tight = choose_shots(TRAIN, "instruction", tokenizer, QUERIES, "auto", max_k=8, budget=30, answer_tokens=4, seed=0)
    assert sum(t["role"] == "assistant" for t in roomy) == 8
    assert 0 < sum(t["role"] == "assistant" for t in tight) < 8
    prompt = conversation_prompt_ids([with_shots(tight, split_conversation(QUERIES[0], "instruction")[0])], tokenizer)[0]
    assert len(prompt) + 4 <= 30
    assert choose_shots(TRAIN, "instruction", tokenizer, QUERIES, 0, 8, 1000, 4, 0) == []


def test_a_fixed_k_is_seeded_and_every_shot_is_a_solved_training_example():
    tokenizer = tiny_word_tokenizer()
    first = choose_shots(TRAIN, "instruction", tokenizer, QUERIES, 3, 8, 1000, 4, seed=1)
    assert first == choose_shots(TRAIN, "instruction", tokenizer, QUERIES, 3, 8, 1000, 4, seed=1)
    pairs = list(zip(first[::2], first[1::2]))
    assert len(pairs) == 3 and all(u["role"] == "user" and a["role"] == "assistant" for u, a in pairs)
    solved = [(shot_turns(r, "instruction")[0]["content"], r["output"]) for r in TRAIN]
    assert all((u["content"], a["content"]) in solved for u, a in pairs)


def test_shots_go_after_the_system_prompt_and_before_the_query():
    shots = [{"role": "user", "content": "w1"}, {"role": "assistant", "content": "w2"}]
    query = [{"role": "system", "content": "w9"}, {"role": "user", "content": "w3"}]
    assert with_shots(shots, query) == [query[0], *shots, query[1]]
    assert with_shots(shots, query[1:]) == [*shots, query[1]]


def test_kshot_takes_auto_or_a_count_from_0_to_64():
    import pytest

    from antrenor.config import load_config
    from antrenor.errors import ConfigError
    from antrenor.evaluation.config import EvalConfig

    flags = {"models": ["m"], "data": "d", "output": "o"}
    assert load_config(EvalConfig, flags={**flags, "kshot": 0}).kshot == 0
    assert load_config(EvalConfig, flags=flags).kshot == "auto"
    for wrong in (-1, 65, "many"):
        with pytest.raises(ConfigError, match="kshot"):
            load_config(EvalConfig, flags={**flags, "kshot": wrong})
