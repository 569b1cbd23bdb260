"""What preference tuning changed, measured on held-out pairs.

- `answer_log_probs`: the summed log-probability a causal LM gives an answer after a prompt (chat
  template applied, as in training).
- `pair_margins`: log p(chosen | prompt) - log p(rejected | prompt) for each pair; DPO-style tuning
  should raise it on pairs it never saw. The implicit reward of DPO is beta times this margin's change
  against the reference.
- `reward_accuracy`: the share of pairs a reward model scores chosen above rejected.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from antrenor.training.preference import conversational


def _conversation_ids(tokenizer: Any, prompt: list[dict[str, str]], answer: list[dict[str, str]]) -> tuple[list[int], int]:
    """Token ids of prompt + answer, and where the answer starts (the prompt rendered with its generation prompt)."""
    prompt_ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True, return_dict=False)
    full_ids = tokenizer.apply_chat_template(prompt + answer, tokenize=True, return_dict=False)
    if full_ids[: len(prompt_ids)] != prompt_ids:  # templates that render the prompt differently once answered
        return list(prompt_ids) + list(full_ids[len(prompt_ids):]), len(prompt_ids)
    return list(full_ids), len(prompt_ids)


@torch.no_grad()
def answer_log_probs(model: Any, tokenizer: Any, prompts: Sequence[list[dict[str, str]]],
                     answers: Sequence[list[dict[str, str]]]) -> list[float]:
    model.eval()
    totals = []
    for prompt, answer in zip(prompts, answers):
        ids, start = _conversation_ids(tokenizer, prompt, answer)
        inputs = torch.tensor([ids])
        logits = model(input_ids=inputs).logits[0, start - 1 : -1].float()
        targets = inputs[0, start:]
        totals.append(float(torch.log_softmax(logits, -1).gather(1, targets[:, None]).sum()))
    return totals


def pair_margins(model: Any, tokenizer: Any, records: list[dict[str, Any]]) -> list[float]:
    """Per prepared preference record: log p(chosen) - log p(rejected), both after the prompt."""
    rows = conversational(records, "preference", None)
    prompts = [row["prompt"] for row in rows]
    chosen = answer_log_probs(model, tokenizer, prompts, [row["chosen"] for row in rows])
    rejected = answer_log_probs(model, tokenizer, prompts, [row["rejected"] for row in rows])
    return [c - r for c, r in zip(chosen, rejected)]


@torch.no_grad()
def reward_scores(model: Any, tokenizer: Any, prompts: Sequence[list[dict[str, str]]],
                  answers: Sequence[list[dict[str, str]]]) -> list[float]:
    model.eval()
    scores = []
    for prompt, answer in zip(prompts, answers):
        ids = tokenizer.apply_chat_template(prompt + answer, tokenize=True, return_dict=False)
        scores.append(float(model(input_ids=torch.tensor([ids])).logits[0, 0]))
    return scores


def reward_accuracy(model: Any, tokenizer: Any, records: list[dict[str, Any]]) -> float:
    """Share of prepared preference records whose chosen answer the reward model scores higher."""
    rows = conversational(records, "preference", None)
    prompts = [row["prompt"] for row in rows]
    chosen = reward_scores(model, tokenizer, prompts, [row["chosen"] for row in rows])
    rejected = reward_scores(model, tokenizer, prompts, [row["rejected"] for row in rows])
    return sum(c > r for c, r in zip(chosen, rejected)) / max(1, len(rows))
