"""Task `sft`: instruction and chat tuning of a causal LM, loss on assistant tokens only.

Each conversation is rendered with the model's own chat template. The assistant spans are
found by rendering the conversation up to each assistant turn: the tokens between "prompt
so far + generation prompt" and "conversation including this turn" are that turn's answer.
The mask covers the answer and its end-of-turn token (so the model learns to stop) and
nothing else: not the system prompt, the user turns, or the template's role headers.
Models without a chat template get a plain ChatML one, saved with the tokenizer so that
inference formats prompts the same way.
"""

from __future__ import annotations

from typing import Any

from antrenor.data.kinds import to_messages
from antrenor.errors import AntrenorError

KINDS = ("instruction", "chat", "completion")
HEAD = "causal-lm"
IGNORE = -100
FALLBACK_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def ensure_chat_template(tokenizer: Any) -> bool:
    """Give a template-less tokenizer the plain ChatML template; True when one was added."""
    if getattr(tokenizer, "chat_template", None):
        return False
    tokenizer.chat_template = FALLBACK_CHAT_TEMPLATE
    return True


def encode_conversation(messages: list[dict[str, str]], tokenizer: Any) -> tuple[list[int], list[int]]:
    """(input_ids, labels) with labels = IGNORE everywhere but the assistant answers."""
    def render(turns: list[dict[str, str]], generation_prompt: bool = False) -> list[int]:
        return list(tokenizer.apply_chat_template(turns, tokenize=True, add_generation_prompt=generation_prompt,
                                                  return_dict=False))

    input_ids = render(messages)
    labels = [IGNORE] * len(input_ids)
    end_ids = _end_of_turn_ids(tokenizer)
    for position, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = render(messages[:position], generation_prompt=True)
        upto = render(messages[: position + 1])
        if input_ids[: len(upto)] != upto or upto[: len(prompt)] != prompt:
            raise AntrenorError("the chat template renders a conversation differently from its prefixes; "
                                "cannot locate the assistant tokens (set a chat template that is prefix-stable)")
        start, end = len(prompt), len(upto)
        ends = [i for i in range(start, end) if input_ids[i] in end_ids]
        if ends:
            end = ends[-1] + 1  # up to the end-of-turn token; not the newline the template adds after it
        labels[start:end] = input_ids[start:end]
    eos = tokenizer.eos_token_id
    if eos is not None and messages[-1]["role"] == "assistant" and not (set(input_ids[-3:]) & end_ids):
        input_ids.append(eos)  # a template without an end token: add EOS so generation stops
        labels.append(eos)
    return input_ids, labels


def build_features(records: list[dict[str, Any]], kind: str, tokenizer: Any, max_length: int) -> tuple[list[dict[str, list[int]]], int]:
    """Tokenized examples, and how many were dropped for exceeding max_length (answers are never cut)."""
    features, too_long = [], 0
    for record in records:
        input_ids, labels = encode_conversation(to_messages(record, kind), tokenizer)
        if len(input_ids) > max_length:
            too_long += 1
            continue
        if any(label != IGNORE for label in labels):
            features.append({"input_ids": input_ids, "labels": labels})
    return features, too_long


def _end_of_turn_ids(tokenizer: Any) -> set[int]:
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    for token in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "</s>"):
        token_id = tokenizer.convert_tokens_to_ids(token)
        if isinstance(token_id, int) and token_id != tokenizer.unk_token_id:
            ids.add(token_id)
    return ids
