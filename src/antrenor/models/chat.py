"""Chat templates: rendering conversations for training and for generation, the same way.

Training renders each conversation with the model's own chat template and marks the assistant answers
(`encode_conversation`); generation renders the conversation up to the answer with the template's
generation prompt (`prompt_ids`) and stops at the end-of-turn ids (`end_of_turn_ids`). Both sides use
this module, so a model is asked exactly as it was taught.

The assistant spans are found by rendering the conversation up to each assistant turn: the tokens
between "prompt so far + generation prompt" and "conversation including this turn" are that turn's
answer. The mask covers the answer and its end-of-turn token (so the model learns to stop) and
nothing else: not the system prompt, the user turns, or the template's role headers. Models without
a chat template get one their vocabulary supports (Gemma's, ChatML, or plain role names ending in EOS),
saved with the tokenizer so that inference formats prompts the same way.
"""

from __future__ import annotations

from typing import Any

from antrenor.errors import AntrenorError
from antrenor.records.kinds import to_messages

IGNORE = -100
CHATML_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
FALLBACK_CHAT_TEMPLATE = CHATML_CHAT_TEMPLATE  # the name antrenor used before templates were chosen by vocabulary
# Gemma 3's chat template, text only: a system prompt is merged into the first user turn (Gemma has no
# system role), the assistant's role is "model", and every turn ends with <end_of_turn>.
GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}{%- set first_user_prefix = '' -%}{%- set loop_messages = messages -%}{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{%- endif -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') }}"
    "{{ message['content'] | trim }}{{ '<end_of_turn>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)
# For a vocabulary with no turn markers at all: plain role names, and the answer ends with EOS (a special
# token of every vocabulary), so the model still learns where to stop and generation stops there.
PLAIN_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] | capitalize }}: {{ message['content'] }}"
    "{% if message['role'] == 'assistant' %}{{ eos_token }}{% endif %}{{ '\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant: ' }}{% endif %}"
)


def ensure_chat_template(tokenizer: Any) -> bool:
    """Give a template-less tokenizer the chat template its vocabulary supports; True when one was added.

    The turn markers must be tokens of the vocabulary: written as plain text, `<|im_end|>` becomes several
    ordinary tokens that the model learns to write into its answers, and generation never stops on them.
    """
    if getattr(tokenizer, "chat_template", None):
        return False
    tokenizer.chat_template = fallback_chat_template(tokenizer)
    return True


def fallback_chat_template(tokenizer: Any) -> str:
    """Gemma's template when <start_of_turn>/<end_of_turn> are in the vocabulary, ChatML when <|im_start|>/<|im_end|>
    are, else plain role names with EOS ending each answer."""
    vocabulary = tokenizer.get_vocab()
    if {"<start_of_turn>", "<end_of_turn>"} <= vocabulary.keys():
        return GEMMA_CHAT_TEMPLATE
    if {"<|im_start|>", "<|im_end|>"} <= vocabulary.keys():
        return CHATML_CHAT_TEMPLATE
    return PLAIN_CHAT_TEMPLATE


def template_name(template: str) -> str:
    """How a warning names a chat template antrenor supplied."""
    return {GEMMA_CHAT_TEMPLATE: "Gemma's", CHATML_CHAT_TEMPLATE: "ChatML", PLAIN_CHAT_TEMPLATE: "a plain role-name"}.get(
        template, "the model's own")


def encode_conversation(messages: list[dict[str, str]], tokenizer: Any) -> tuple[list[int], list[int]]:
    """(input_ids, labels) with labels = IGNORE everywhere but the assistant answers."""
    def render(turns: list[dict[str, str]], generation_prompt: bool = False) -> list[int]:
        return list(tokenizer.apply_chat_template(turns, tokenize=True, add_generation_prompt=generation_prompt,
                                                  return_dict=False))

    input_ids = render(messages)
    labels = [IGNORE] * len(input_ids)
    end_ids = end_of_turn_id_set(tokenizer)
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


def end_of_turn_id_set(tokenizer: Any) -> set[int]:
    """EOS and the end-of-turn tokens of the common chat formats that this vocabulary holds."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    for token in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "</s>"):
        token_id = tokenizer.convert_tokens_to_ids(token)
        if isinstance(token_id, int) and token_id != tokenizer.unk_token_id:
            ids.add(token_id)
    return ids


def end_of_turn_ids(tokenizer: Any) -> list[int]:
    """Ids that end an answer: EOS and the chat template's end-of-turn token."""
    return sorted(end_of_turn_id_set(tokenizer))


def split_conversation(record: dict[str, Any], kind: str) -> tuple[list[dict[str, str]], str]:
    """The conversation up to the last assistant turn, and that turn's text (the reference)."""
    messages = to_messages(record, kind)
    last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None)
    if last is None:
        return messages, ""
    return messages[:last], messages[last]["content"]


def prompt_ids(records: list[dict[str, Any]], kind: str, tokenizer: Any) -> list[list[int]]:
    """Each record's conversation up to its last answer, rendered for generation."""
    return conversation_prompt_ids([split_conversation(r, kind)[0] for r in records], tokenizer)


def conversation_prompt_ids(conversations: list[list[dict[str, str]]], tokenizer: Any) -> list[list[int]]:
    """Each conversation rendered with the chat template, ending with the assistant's generation prompt."""
    ensure_chat_template(tokenizer)
    return [list(tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True, return_dict=False))
            for messages in conversations]
