"""What preference tuning changed, measured on held-out pairs; and what a reward model thinks of answers.

- `answer_log_probs`: the summed log-probability a causal LM gives an answer after a prompt (chat
  template applied, as in training).
- `pair_margins`: log p(chosen | prompt) - log p(rejected | prompt) for each pair; DPO-style tuning
  should raise it on pairs it never saw. The implicit reward of DPO is beta times this margin's change
  against the reference.
- `reward_scores`: a reward model's score of prompt + answer; `pair_rewards` and `reward_accuracy`: how
  often it scores the chosen answer above the rejected one.

All run in batches, right-padded: a causal LM's positions and a sequence classifier's last non-pad token
are then those of the unpadded sequence, so a batch gives what one sequence at a time gives, faster.
Sequences longer than `max_length` lose tokens from the left (the answer, at the end, is kept).

    >>> margins = pair_margins(model, tokenizer, read_split(Path("runs/x/data"), "test"))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Sequence

import torch

from antrenor.records.kinds import conversational

Messages = list[dict[str, str]]


def conversation_ids(tokenizer: Any, prompt: Messages, answer: Messages) -> tuple[list[int], int]:
    """Token ids of prompt + answer, and where the answer starts (the prompt rendered with its generation prompt)."""
    prompt_ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True, return_dict=False)
    full_ids = tokenizer.apply_chat_template(prompt + answer, tokenize=True, return_dict=False)
    if full_ids[: len(prompt_ids)] != prompt_ids:  # templates that render the prompt differently once answered
        return list(prompt_ids) + list(full_ids[len(prompt_ids):]), len(prompt_ids)
    return list(full_ids), len(prompt_ids)


def _cut_left(ids: list[int], start: int, max_length: int | None) -> tuple[list[int], int]:
    if max_length is None or len(ids) <= max_length:
        return ids, start
    cut = len(ids) - max_length
    return ids[cut:], max(1, start - cut)  # an answer longer than max_length keeps its end


def _right_padded(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.tensor([r + [pad_id] * (width - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
    return ids, mask


def _batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Indices grouped by similar length (little padding), in batches of `batch_size`."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


@torch.no_grad()
def answer_log_probs(model: Any, tokenizer: Any, prompts: Sequence[Messages], answers: Sequence[Messages],
                     batch_size: int = 8, max_length: int | None = None,
                     on_batch: Callable[[int], None] | None = None) -> list[float]:
    """Summed log p(answer tokens | prompt) per (prompt, answer); an empty answer gives 0."""
    model.eval()
    encoded = [_cut_left(*conversation_ids(tokenizer, p, a), max_length) for p, a in zip(prompts, answers)]
    totals = [0.0] * len(encoded)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    for batch in _batches([len(ids) for ids, _ in encoded], batch_size):
        ids, mask = _right_padded([encoded[i][0] for i in batch], pad_id)
        logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits
        for row, index in enumerate(batch):
            sequence, start = encoded[index]
            if start >= len(sequence):
                continue
            log_probs = torch.log_softmax(logits[row, start - 1 : len(sequence) - 1].float(), -1)
            targets = torch.tensor(sequence[start:])
            totals[index] = float(log_probs.gather(1, targets[:, None]).sum())
        if on_batch:
            on_batch(len(batch))
    return totals


def pair_log_probs(model: Any, tokenizer: Any, records: list[dict[str, Any]], batch_size: int = 8,
                   max_length: int | None = None) -> tuple[list[float], list[float]]:
    """Per prepared preference record: (log p(chosen), log p(rejected)), both after the prompt."""
    rows = conversational(records, "preference", None)
    prompts = [row["prompt"] for row in rows]
    chosen = answer_log_probs(model, tokenizer, prompts, [row["chosen"] for row in rows], batch_size, max_length)
    rejected = answer_log_probs(model, tokenizer, prompts, [row["rejected"] for row in rows], batch_size, max_length)
    return chosen, rejected


def pair_margins(model: Any, tokenizer: Any, records: list[dict[str, Any]], batch_size: int = 8,
                 max_length: int | None = None) -> list[float]:
    """Per prepared preference record: log p(chosen) - log p(rejected), both after the prompt."""
    chosen, rejected = pair_log_probs(model, tokenizer, records, batch_size, max_length)
    return [c - r for c, r in zip(chosen, rejected)]


@torch.no_grad()
def reward_scores(model: Any, tokenizer: Any, prompts: Sequence[Messages], answers: Sequence[Messages],
                  batch_size: int = 8, max_length: int | None = None,
                  on_batch: Callable[[int], None] | None = None) -> list[float]:
    """A reward model's score of each prompt + answer, rendered with its chat template (as TRL's RewardTrainer did).

    The model reads its score at the last token that is not `config.pad_token_id`, which right padding leaves
    where it was; `load_tuned(..., "reward")` makes sure the pad id is set."""
    model.eval()
    encoded = [list(tokenizer.apply_chat_template(p + a, tokenize=True, return_dict=False)) for p, a in zip(prompts, answers)]
    encoded = [_cut_left(ids, 0, max_length)[0] for ids in encoded]
    pad_id = model.config.pad_token_id if model.config.pad_token_id is not None else tokenizer.pad_token_id
    scores = [0.0] * len(encoded)
    for batch in _batches([len(ids) for ids in encoded], batch_size):
        ids, mask = _right_padded([encoded[i] for i in batch], pad_id)
        logits = model(input_ids=ids, attention_mask=mask).logits.float()
        for row, index in enumerate(batch):
            scores[index] = float(logits[row, 0])
        if on_batch:
            on_batch(len(batch))
    return scores


def pair_rewards(model: Any, tokenizer: Any, records: list[dict[str, Any]], batch_size: int = 8,
                 max_length: int | None = None) -> tuple[list[float], list[float]]:
    """Per prepared preference record: the reward model's (score of chosen, score of rejected)."""
    rows = conversational(records, "preference", None)
    prompts = [row["prompt"] for row in rows]
    chosen = reward_scores(model, tokenizer, prompts, [row["chosen"] for row in rows], batch_size, max_length)
    rejected = reward_scores(model, tokenizer, prompts, [row["rejected"] for row in rows], batch_size, max_length)
    return chosen, rejected


def reward_accuracy(model: Any, tokenizer: Any, records: list[dict[str, Any]], batch_size: int = 8) -> float:
    """Share of prepared preference records whose chosen answer the reward model scores higher (ties count as wrong)."""
    chosen, rejected = pair_rewards(model, tokenizer, records, batch_size)
    return sum(c > r for c, r in zip(chosen, rejected)) / max(1, len(chosen))
