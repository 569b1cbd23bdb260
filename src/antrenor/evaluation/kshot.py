"""The honest baseline of a language-model task: the base model shown k solved training examples before each
prompt (k-shot), beside its zero-shot answers. A pretrained base was never taught the chat format the tuned
model learned; solved examples in the prompt show it the format and the task, which is what a user would do
before fine-tuning. k is chosen to fit: as many examples (at most `kshot_max`) as keep the longest test prompt
plus its answer inside `kshot_max_tokens` and the model's context.

A model with a chat template of its own (an instruct model) sees the shots as earlier turns of the conversation.
A base model has none (antrenor supplies one for training), and chat markers it never saw in pretraining confuse
it: measured on Gemma 3 270M, 8 shots as chat turns made it write noise, and 2-3 shots made it echo the request.
It sees the shots as plain text instead, the way base models are prompted:
    Input: <request>\nOutput: <answer>\n\n  ... Input: <query>\nOutput:
and its answer is cut where it starts the next example.

    >>> shots = choose_shots(train_records, "instruction", tokenizer, test_records, k="auto", max_k=8, budget=1024,
    ...                      answer_tokens=24, seed=0)
"""

from __future__ import annotations

import random
from typing import Any

from antrenor.models.chat import split_conversation


def shot_turns(record: dict[str, Any], kind: str) -> list[dict[str, str]]:
    """One solved example as conversation turns: its prompt turns (no system prompt) and its answer."""
    prompt, answer = split_conversation(record, kind)
    return [m for m in prompt if m["role"] != "system"] + [{"role": "assistant", "content": answer}]


def choose_shots(train: list[dict[str, Any]], kind: str, tokenizer: Any, queries: list[dict[str, Any]],
                 k: int | str, max_k: int, budget: int, answer_tokens: int, seed: int) -> list[dict[str, str]]:
    """The turns of k seeded training examples (short ones first tried), k as given or the most that fit."""
    usable = [r for r in train if split_conversation(r, kind)[1]]
    if not usable or k == 0:
        return []
    candidates = random.Random(seed).sample(usable, min(len(usable), 4 * max_k))
    limit = min(budget, getattr(tokenizer, "model_max_length", budget) or budget) - answer_tokens
    prompts = [split_conversation(q, kind)[0] for q in queries]
    longest = max(prompts, key=lambda turns: _prompt_length(tokenizer, turns)) if prompts else []
    wanted = max_k if k == "auto" else int(k)
    shots: list[dict[str, str]] = []
    for record in sorted(candidates, key=lambda r: _length(tokenizer, shot_turns(r, kind)))[:wanted]:
        turns = shot_turns(record, kind)
        if k == "auto" and _prompt_length(tokenizer, with_shots(shots + turns, longest)) > limit:
            break
        shots += turns
    return shots


def with_shots(shots: list[dict[str, str]], conversation: list[dict[str, str]]) -> list[dict[str, str]]:
    """The shots placed after the system prompt (templates that allow one only at the start) and before the query."""
    system = [m for m in conversation[:1] if m["role"] == "system"]
    return system + shots + conversation[len(system):]


def _length(tokenizer: Any, turns: list[dict[str, str]]) -> int:
    return len(tokenizer.apply_chat_template(turns, tokenize=True, return_dict=False)) if turns else 0


def _prompt_length(tokenizer: Any, turns: list[dict[str, str]]) -> int:
    return len(tokenizer.apply_chat_template(turns, tokenize=True, add_generation_prompt=True, return_dict=False))


PLAIN_INPUT, PLAIN_OUTPUT = "Input: ", "Output:"


def plain_prompt(shots: list[dict[str, str]], conversation: list[dict[str, str]]) -> str:
    """Shots and query as plain text, for base models (no chat markers)."""
    def block(turns: list[dict[str, str]]) -> str:
        asked = "\n".join(m["content"] for m in turns if m["role"] != "assistant")
        answers = [m["content"] for m in turns if m["role"] == "assistant"]
        return f"{PLAIN_INPUT}{asked}\n{PLAIN_OUTPUT}" + (f" {answers[-1]}\n\n" if answers else "")

    pairs, current = [], []
    for turn in shots:
        current.append(turn)
        if turn["role"] == "assistant":
            pairs.append(current)
            current = []
    return "".join(block(pair) for pair in pairs) + block(conversation)


def cut_plain_answer(text: str) -> str:
    """A base model's plain-text answer up to where it starts another example."""
    for marker in ("\n\n", f"\n{PLAIN_INPUT.strip()}", PLAIN_INPUT.strip()):
        text = text.split(marker, 1)[0]
    return text.strip()
