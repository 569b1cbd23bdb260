"""Token lengths measured with the model's own tokenizer, and truncation that keeps the
original characters (offsets, not decode: decoding an uncased tokenizer's ids would
lowercase the text and drop its diacritics)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from antrenor.records.kinds import to_messages

DEFAULT_MAX_LENGTH_CAP = 2048


@contextlib.contextmanager
def quiet_transformers():
    """Silence the 'sequence longer than maximum' warning: prepare counts those records itself."""
    from transformers.utils import logging

    before = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(before)


def default_max_length(tokenizer: Any) -> int:
    """The tokenizer's model_max_length when it is real (some are 1e30 placeholders), capped at 2048."""
    limit = getattr(tokenizer, "model_max_length", None)
    if not isinstance(limit, int) or limit > 1_000_000:
        limit = DEFAULT_MAX_LENGTH_CAP
    return min(limit, DEFAULT_MAX_LENGTH_CAP)


def formatted_texts(records: list[dict[str, Any]], kind: str, tokenizer: Any) -> list[Any]:
    """What the model will actually see for each record: chat template for conversations."""
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if kind in ("instruction", "chat", "completion") and has_template:
        conversations = [to_messages(r, kind) for r in records]
        return tokenizer.apply_chat_template(conversations, tokenize=False)
    if kind in ("instruction", "chat", "completion"):
        return ["\n".join(m["content"] for m in to_messages(r, kind)) for r in records]
    if kind == "pairs":
        return [(r["text_a"], r["text_b"]) for r in records]
    if kind == "preference":
        return [_preference_text(r, tokenizer, has_template) for r in records]
    if kind == "feedback":
        return _rendered([_conversation(r["prompt"], r["completion"]) for r in records], tokenizer, has_template)
    return [r["text"] for r in records]


def token_lengths(records: list[dict[str, Any]], kind: str, tokenizer: Any, *, batch_size: int = 512,
                  progress: Callable[[int], None] = lambda n: None) -> list[int]:
    lengths: list[int] = []
    templated = kind in ("instruction", "chat", "completion", "preference", "feedback") and getattr(tokenizer, "chat_template", None)
    for start in range(0, len(records), batch_size):
        batch = formatted_texts(records[start : start + batch_size], kind, tokenizer)
        if kind == "pairs":
            encoded = tokenizer([a for a, _ in batch], [b for _, b in batch], add_special_tokens=True)
        else:
            encoded = tokenizer(batch, add_special_tokens=not templated)
        lengths.extend(len(ids) for ids in encoded["input_ids"])
        progress(len(batch))
    return lengths


def truncate_to_tokens(text: str, tokenizer: Any, max_length: int) -> str:
    """The longest prefix of `text` that fits in `max_length` tokens (special tokens included)."""
    encoded = tokenizer(text, truncation=True, max_length=max_length, return_offsets_mapping=True)
    ends = [end for start, end in encoded["offset_mapping"] if end > start]
    return text[: ends[-1]].rstrip() if ends else ""


def _preference_text(record: dict[str, Any], tokenizer: Any, has_template: bool) -> str:
    """The longer of prompt+chosen and prompt+rejected: the one that must fit."""
    options = [_conversation(record["prompt"], record["chosen"]), _conversation(record["prompt"], record["rejected"])]
    return max(_rendered(options, tokenizer, has_template), key=len)


def _conversation(prompt: Any, answer: Any) -> list[dict[str, str]]:
    """A prompt (text or messages) followed by an answer (text or messages)."""
    turns = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    return turns + ([{"role": "assistant", "content": answer}] if isinstance(answer, str) else list(answer))


def _rendered(conversations: list[list[dict[str, str]]], tokenizer: Any, has_template: bool) -> list[str]:
    if has_template:
        return tokenizer.apply_chat_template(conversations, tokenize=False)
    return ["\n".join(m["content"] for m in turns) for turns in conversations]
