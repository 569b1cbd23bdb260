"""Preference data built from instruction, chat or completion records (`build_preference` in prepare).

Each record's answer becomes the chosen one; a rule makes the rejected one:

    other_answer   the answer of another record of the same input split: fluent, but wrong
    truncated      the answer cut after about half of its words: an answer that stops mid-way

Both are easy negatives, for demos and for checking that a preference method learns at all; they
are no substitute for answers judged by people or by a reward model. The prompt is what the user
side of the record says (an instruction record's instruction and input, as `to_messages` joins
them): a string when it is one user message, the list of messages before the answer otherwise.

Example:
    >>> records = [{"instruction": "Capitala Franței?", "input": "", "output": "Parisul este capitala"},
    ...            {"instruction": "Capitala Italiei?", "input": "", "output": "Roma"}]
    >>> build_pairs(records, "instruction", "truncated", seed=0, groups=[None, None])[0]
    {'prompt': 'Capitala Franței?', 'chosen': 'Parisul este capitala', 'rejected': 'Parisul'}
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Hashable
from typing import Any

from antrenor.records.kinds import TEXT_KEYS, RecordInvalid, to_canonical, to_messages
from antrenor.records.problem import Problem

SOURCE_KINDS = ("instruction", "chat", "completion")
REJECTED_RULES = {  # rule -> what the rejected answer is, for the report
    "other_answer": "the answer of another record of the same input split",
    "truncated": "the answer cut after about half of its words",
}
_WORD = re.compile(r"\S+")


def build_pairs(records: list[dict[str, Any]], kind: str, rule: str, *, seed: int,
                groups: list[Hashable]) -> list[dict[str, Any] | Problem]:
    """One preference record {prompt, chosen, rejected, extra fields...} or a Problem per record.

    `groups` (one per record, e.g. its input split) limits where `other_answer` looks: a test
    record's rejected answer comes from another test record, so held-out data stays held out.
    The same records, rule and seed always give the same pairs.
    """
    if kind not in SOURCE_KINDS:
        raise ValueError(f"pairs are built from {', '.join(SOURCE_KINDS)} records, not {kind}")
    exchanges = [prompt_and_answer(record, kind) for record in records]
    answers = [e[1] if isinstance(e, tuple) else None for e in exchanges]
    if rule == "other_answer":
        identities = [json.dumps(record, ensure_ascii=False, sort_keys=True, default=str) for record in records]
        rejected = other_answers(answers, groups, seed, identities)
    elif rule == "truncated":
        rejected = [truncated_answer(a) if a is not None else None for a in answers]
    else:
        raise ValueError(f"unknown rule for rejected answers: {rule!r}; use one of {', '.join(REJECTED_RULES)}")
    outcomes: list[dict[str, Any] | Problem] = []
    for record, exchange, worse in zip(records, exchanges, rejected):
        if isinstance(exchange, Problem):
            outcomes.append(exchange)
        elif worse is None:
            outcomes.append(_no_rejected_answer(rule, exchange[1]))
        else:
            prompt, answer = exchange
            outcomes.append(_as_preference({"prompt": prompt, "chosen": answer, "rejected": worse,
                                            **extra_fields(record, kind)}))
    return outcomes


def prompt_and_answer(record: dict[str, Any], kind: str) -> tuple[Any, str] | Problem:
    """(prompt, last assistant answer); the prompt is a string when it is a single user message."""
    messages = to_messages(record, kind)
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    before = [dict(m) for m in messages[:last]]
    if not any(m["role"] == "user" for m in before):
        return Problem("no_prompt", "the conversation has no user message before its last assistant answer",
                       "start the conversation with the user's message")
    prompt = before[0]["content"] if len(before) == 1 and before[0]["role"] == "user" else before
    return prompt, messages[last]["content"]


def extra_fields(record: dict[str, Any], kind: str) -> dict[str, Any]:
    """The fields the record carries beyond its kind's own (e.g. a `code` column), kept on the pair."""
    own = {"messages"} if kind == "chat" else set(TEXT_KEYS[kind])
    return {key: value for key, value in record.items() if key not in own}


def truncated_answer(answer: str) -> str | None:
    """`answer` up to the end of its first half of words (at least one word removed); None for one word."""
    words = list(_WORD.finditer(answer))
    if len(words) < 2:
        return None
    return answer[: words[len(words) // 2 - 1].end()]


def other_answers(answers: list[str | None], groups: list[Hashable], seed: int,
                  identities: list[str]) -> list[str | None]:
    """For each answer, a different answer drawn from the same group; None when there is none.

    Answers are compared ignoring case and spacing, so the rejected one never merely restates the
    chosen one; each distinct answer is equally likely, however often it occurs. Each draw is seeded
    by `seed` and the record's identity (its content), not its position: two identical records get
    the same rejected answer, so the exact-duplicate check still sees them as duplicates.
    """
    distinct: dict[Hashable, dict[str, str]] = {}  # group -> comparison key -> first text with it
    for answer, group in zip(answers, groups):
        if answer is not None:
            distinct.setdefault(group, {}).setdefault(_comparable(answer), answer)
    texts = {group: list(by_key.values()) for group, by_key in distinct.items()}
    positions = {group: {key: i for i, key in enumerate(by_key)} for group, by_key in distinct.items()}
    drawn: list[str | None] = []
    for answer, group, identity in zip(answers, groups, identities):
        if answer is None or len(texts[group]) < 2:
            drawn.append(None)
            continue
        position = random.Random(f"{seed}\n{identity}").randrange(len(texts[group]) - 1)
        if position >= positions[group][_comparable(answer)]:
            position += 1  # skip the record's own answer
        drawn.append(texts[group][position])
    return drawn


def feedback_records(pair: dict[str, Any]) -> list[dict[str, Any]]:
    """A preference record as two feedback records: the chosen answer desirable, the rejected one not."""
    extra = {key: value for key, value in pair.items() if key not in ("prompt", "chosen", "rejected")}
    return [{"prompt": pair["prompt"], "completion": pair["chosen"], "label": True, **extra},
            {"prompt": pair["prompt"], "completion": pair["rejected"], "label": False, **extra}]


def _comparable(answer: str) -> str:
    return " ".join(answer.casefold().split())


def _as_preference(fields: dict[str, Any]) -> dict[str, Any] | Problem:
    """The pair validated as the preference kind validates any input (one place decides what is valid)."""
    try:
        return to_canonical(fields, "preference")
    except RecordInvalid as invalid:
        return invalid.problem


def _no_rejected_answer(rule: str, answer: str) -> Problem:
    if rule == "truncated":
        return Problem("answer_too_short_to_truncate",
                       f"the answer {answer[:60]!r} is a single word: cutting it would leave nothing",
                       "remove one-word answers, or use build_preference.rejected=other_answer")
    return Problem("no_other_answer",
                   "no other record of the same input split has a different answer to reject",
                   "give that split records with different answers, or use build_preference.rejected=truncated")
