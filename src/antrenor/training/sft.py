"""Task `sft`: instruction and chat tuning of a causal LM, loss on assistant tokens only.

Each conversation is rendered with the model's own chat template and its assistant answers are
marked (models/chat.py: the mask covers each answer and its end-of-turn token, so the model
learns to stop; each answer is trained in the context generation gives it, which for a few
templates means one example per answer). Examples longer than max_length are dropped, never cut:
a cut answer would teach the model to stop mid-way. `models/template_check.py` shows and checks
the rendering before training.
"""

from __future__ import annotations

from typing import Any

# ensure_chat_template and encode_conversation live in the shared model layer (models/chat.py), where
# generation and scoring use them too; they stay importable from here.
from antrenor.models.chat import (  # noqa: F401
    FALLBACK_CHAT_TEMPLATE,
    IGNORE,
    encode_conversation,
    encode_conversation_examples,
    ensure_chat_template,
    set_template_kwargs,
    template_name,
)
from antrenor.records.kinds import to_messages

KINDS = ("instruction", "chat", "completion")
HEAD = "causal-lm"


def build_features(records: list[dict[str, Any]], kind: str, tokenizer: Any, max_length: int) -> tuple[list[dict[str, list[int]]], int]:
    """Tokenized examples, and how many were dropped for exceeding max_length (answers are never cut)."""
    features, too_long = [], 0
    for record in records:
        for input_ids, labels in encode_conversation_examples(to_messages(record, kind), tokenizer):
            if len(input_ids) > max_length:
                too_long += 1
                continue
            if any(label != IGNORE for label in labels):
                features.append({"input_ids": input_ids, "labels": labels})
    return features, too_long


def ensure_chat_template_and_say_so(tokenizer: Any, reporter: Any) -> None:
    """A template-less tokenizer gets the template its vocabulary supports (models/chat.py), with a warning."""
    if ensure_chat_template(tokenizer):
        reporter.warn(f"the tokenizer has no chat template: using {template_name(tokenizer.chat_template)} template, "
                      "whose turn markers this vocabulary holds (saved with the model)")


def use_chat_template_kwargs(tokenizer: Any, kwargs: dict[str, Any], reporter: Any) -> None:
    """The config's `chat_template_kwargs` written into the tokenizer's chat template as defaults
    (models/chat.py `with_template_kwargs`): the features, the template check and the saved tokenizer, hence
    eval, serve and export, all render with them. A variable the template never reads gets a warning."""
    if not kwargs:
        return
    ensure_chat_template_and_say_so(tokenizer, reporter)
    unread = set_template_kwargs(tokenizer, kwargs)
    if unread:
        reporter.warn(f"chat_template_kwargs {', '.join(unread)}: not read by the model's chat template, so no "
                      "rendering changes; check the names against the template")
