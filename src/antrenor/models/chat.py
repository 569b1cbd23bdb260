"""Chat templates: rendering conversations for training and for generation, the same way.

Training renders each conversation with the model's own chat template and marks the assistant answers
(`encode_conversation`); generation renders the conversation up to the answer with the template's
generation prompt (`prompt_ids`) and stops at the end-of-turn ids (`end_of_turn_ids`). Both sides use
this module, so a model is asked exactly as it was taught.

Every answer is trained in the context generation gives it: the conversation before it rendered with the
generation prompt (`render_ids(..., generation_prompt=True)`, what `prompt_ids` feeds the model), followed by
what the template renders after that prompt when this answer is the last turn, cut after its first end-of-turn
token (generation stops there: `end_of_turn_ids`). So the trained tokens are exactly what the model must write
at inference, ending with the token it stops on. When a template renders history differently from a fresh answer
(Qwen3 drops the `<think>` blocks of earlier turns, Mistral v0.3 folds the system prompt into the last user turn
only), the later answer starts its own example instead of sharing one (`encode_conversation_examples`); a
generation prompt that opens a reasoning block the rendered answer lacks (DeepSeek-R1's distills) gets the block
closed in the trained answer; a template that refuses a system role (Gemma 2) gets the system prompt merged into
the first user turn, for training and generation alike (`render_text`). Any other disagreement between the two
renderings is an error (`TemplateMismatch`), never a silently wrong mask. Models without a chat template get one
their vocabulary supports (Gemma's, ChatML, or plain role names ending in EOS), saved with the tokenizer so that
inference formats prompts the same way. Template variables chosen for training (`chat_template_kwargs`, e.g. Qwen3's
`enable_thinking: false`) are written into the template as defaults (`with_template_kwargs`), so every rendering of
the saved tokenizer (evaluation, serving, TRL's trainers, transformers' own `apply_chat_template`, the GGUF
metadata) formats conversations as training did.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
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
        without_template_kwargs(template), "the model's own")


TEMPLATE_KWARGS_MARK = "{#- antrenor chat_template_kwargs: "
TEMPLATE_KWARGS_END = "{#- antrenor chat_template_kwargs end #}"


def with_template_kwargs(template: str, kwargs: dict[str, Any]) -> str:
    """`template` with `kwargs` as the defaults of its variables: a header that sets each one the caller leaves
    undefined (it renders nothing), so `apply_chat_template(messages)` renders as
    `apply_chat_template(messages, **kwargs)` did, wherever the saved tokenizer is used. Replaces the header an
    earlier call wrote; no kwargs, no header."""
    template = without_template_kwargs(template)
    if not kwargs:
        return template
    recorded = json.dumps(kwargs, sort_keys=True, ensure_ascii=False).replace("#}", "#\\u007d")  # JSON reads it back
    defaults = "".join(f"{{%- if {name} is not defined %}}{{%- set {name} = {_jinja_literal(value)} %}}{{%- endif %}}"
                       for name, value in sorted(kwargs.items()))
    return TEMPLATE_KWARGS_MARK + recorded + " #}" + defaults + TEMPLATE_KWARGS_END + template


def saved_template_kwargs(template: str | None) -> dict[str, Any]:
    """The defaults `with_template_kwargs` wrote into `template` ({} when none)."""
    if not template or not template.startswith(TEMPLATE_KWARGS_MARK) or TEMPLATE_KWARGS_END not in template:
        return {}
    return json.loads(template[len(TEMPLATE_KWARGS_MARK): template.index(" #}")])


def without_template_kwargs(template: str) -> str:
    """`template` without the header `with_template_kwargs` wrote."""
    if not template or not template.startswith(TEMPLATE_KWARGS_MARK) or TEMPLATE_KWARGS_END not in template:
        return template
    return template[template.index(TEMPLATE_KWARGS_END) + len(TEMPLATE_KWARGS_END):]


def set_template_kwargs(tokenizer: Any, kwargs: dict[str, Any]) -> list[str]:
    """Write `kwargs` into the tokenizer's chat template as defaults (`with_template_kwargs`); the names of the ones
    the template never reads (a typo, or a model without that switch), for a warning."""
    from jinja2 import Environment, TemplateSyntaxError, meta

    template = tokenizer.chat_template
    tokenizer.chat_template = with_template_kwargs(template, kwargs)
    try:
        parsed = Environment(extensions=["jinja2.ext.loopcontrols"]).parse(without_template_kwargs(template))
    except TemplateSyntaxError:  # a tag only transformers knows ({% generation %}): no names to doubt
        return []
    read = meta.find_undeclared_variables(parsed)
    return sorted(name for name in kwargs if name not in read)


def _jinja_literal(value: Any) -> str:
    """`value` as a Jinja expression: none/true/false, numbers, strings, lists and dicts of them."""
    if value is None or isinstance(value, bool):
        return {None: "none", True: "true", False: "false"}[value]
    if isinstance(value, (int, float, str)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_jinja_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_jinja_literal(str(k))}: {_jinja_literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"a chat template variable takes none, booleans, numbers, strings, lists and dicts, not {value!r}")


def render_text(messages: list[dict[str, Any]], tokenizer: Any, generation_prompt: bool = False,
                **template_kwargs: Any) -> str:
    """The chat template's text for `messages`, the one rendering training and generation both use.

    A template that refuses a system role (Gemma 2 raises "System role not supported") gets the system prompt
    merged into the first user turn, separated by a blank line: what Gemma 3's own template does.
    """
    from jinja2.exceptions import TemplateError

    def render(turns: list[dict[str, Any]]) -> str:
        return tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=generation_prompt,
                                             **template_kwargs)

    try:
        return render(messages)
    except TemplateError:
        if len(messages) < 2 or messages[0]["role"] != "system" or messages[1]["role"] != "user":
            raise
        merged = {**messages[1], "content": messages[0]["content"] + "\n\n" + messages[1]["content"]}
        return render([merged, *messages[2:]])


def render_ids(messages: list[dict[str, Any]], tokenizer: Any, generation_prompt: bool = False,
               **template_kwargs: Any) -> list[int]:
    """`render_text` tokenized as apply_chat_template(tokenize=True) does: no special tokens added around it."""
    text = render_text(messages, tokenizer, generation_prompt, **template_kwargs)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


class TemplateMismatch(AntrenorError):
    """The template renders an answer's context differently for training and for generation."""


@dataclass
class AssistantTurn:
    """One assistant answer as the model meets it at inference: the prompt generation feeds it, and the tokens it
    must write, up to and including the end-of-turn token generation stops on."""

    position: int
    prompt: list[int]
    answer: list[int]
    end_token: str = ""  # the end-of-turn token trained last
    appended_eos: bool = False  # the template wrote no end-of-turn token after the answer: EOS was added
    unmarked_end: str = ""  # with appended_eos: the text the template wrote after the answer's words


def assistant_turn(messages: list[dict[str, Any]], position: int, tokenizer: Any,
                   end_ids: set[int] | None = None, **template_kwargs: Any) -> AssistantTurn:
    """The answer at `position` with the context generation would give it: messages[:position] rendered with the
    generation prompt (what `prompt_ids` feeds the model), and what the template renders after that prompt when
    this answer is the conversation's last turn, cut after its first end-of-turn token (generation stops there)."""
    end_ids = end_of_turn_id_set(tokenizer) if end_ids is None else end_ids
    prompt_text = render_text(messages[:position], tokenizer, True, **template_kwargs)
    full_text = render_text(messages[: position + 1], tokenizer, False, **template_kwargs)
    if not full_text.startswith(prompt_text):
        alone = _answer_alone(messages, position, tokenizer, template_kwargs)
        full_text = prompt_text + alone if alone is not None else _close_reasoning_block(prompt_text, full_text,
                                                                                         messages[position])
    prompt = list(tokenizer(prompt_text, add_special_tokens=False)["input_ids"])
    full = list(tokenizer(full_text, add_special_tokens=False)["input_ids"])
    if full[: len(prompt)] != prompt:
        raise TemplateMismatch(
            f"answer {position + 1}: the generation prompt and the rendered answer share a token across their border "
            f"({_tail(prompt_text)!r} | {_head(full_text[len(prompt_text):])!r}), so the trained context is not the one "
            "generation gives the model",
            problems=[("use a chat template whose generation prompt ends with a special token or a newline (the "
                       "model's own template usually does)")])
    answer = full[len(prompt):]
    ends = [i for i, token in enumerate(answer) if token in end_ids]
    if ends:
        answer = answer[: ends[0] + 1]
        return AssistantTurn(position, prompt, answer, tokenizer.convert_ids_to_tokens(answer[-1]))
    answer_text = full_text[len(prompt_text):]
    unmarked_end = answer_text[_content_end(answer_text, messages[position]):]
    if tokenizer.eos_token_id is None:
        return AssistantTurn(position, prompt, answer, "", False, unmarked_end)
    return AssistantTurn(position, prompt, answer + [tokenizer.eos_token_id], tokenizer.eos_token, True, unmarked_end)


def encode_conversation_examples(messages: list[dict[str, Any]], tokenizer: Any,
                                 **template_kwargs: Any) -> list[tuple[list[int], list[int]]]:
    """(input_ids, labels) examples that train every assistant answer in the context generation gives it.

    Each answer's context is the conversation before it, rendered with the generation prompt, exactly as
    `prompt_ids` renders it for generation. Where that context extends the previous example (the template renders
    history the way it rendered the answers: Llama 3, Qwen2.5, Gemma, Phi, ChatML), answers share one example; where
    the history is rendered differently (Qwen3 drops earlier `<think>` blocks, Mistral v0.3 moves the system prompt
    to the last user turn), the answer starts a new example. Labels cover each answer and its end-of-turn token.
    """
    end_ids = end_of_turn_id_set(tokenizer)
    examples: list[tuple[list[int], list[int]]] = []
    ids: list[int] | None = None
    labels: list[int] = []
    for position, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        turn = assistant_turn(messages, position, tokenizer, end_ids, **template_kwargs)
        if ids is not None and turn.prompt[: len(ids)] == ids:
            labels = labels + [IGNORE] * (len(turn.prompt) - len(ids))
        else:
            if ids is not None:
                examples.append((ids, labels))
            labels = [IGNORE] * len(turn.prompt)
        ids = turn.prompt + turn.answer
        labels = labels + turn.answer
    if ids is not None:
        examples.append((ids, labels))
    return examples


def encode_conversation(messages: list[dict[str, Any]], tokenizer: Any, **template_kwargs: Any) -> tuple[list[int], list[int]]:
    """(input_ids, labels) of the example holding the last answer: the whole conversation for a template that
    renders history as it renders answers (see `encode_conversation_examples`); labels = IGNORE but on answers."""
    examples = encode_conversation_examples(messages, tokenizer, **template_kwargs)
    if examples:
        return examples[-1]
    ids = render_ids(messages, tokenizer, **template_kwargs)
    return ids, [IGNORE] * len(ids)


def _answer_alone(messages: list[dict[str, Any]], position: int, tokenizer: Any,
                  template_kwargs: dict[str, Any]) -> str | None:
    """The answer's rendering after its own question alone, for templates that render the history before an answer
    differently once it is answered (Mistral v0.3 writes the system prompt into the last user turn only, so
    `[sys, user, answer]` renders without it); None when that rendering is no continuation of its prompt either."""
    question = [m for m in messages[:position] if m["role"] != "system"][-1:]
    prompt = render_text(question, tokenizer, True, **template_kwargs)
    full = render_text([*question, messages[position]], tokenizer, False, **template_kwargs)
    return full[len(prompt):] if full.startswith(prompt) else None


def _close_reasoning_block(prompt_text: str, full_text: str, message: dict[str, Any]) -> str:
    """The training text of an answer whose generation prompt opens a reasoning block that the rendered answer
    lacks (DeepSeek-R1's distills prompt with `<｜Assistant｜><think>\\n` and render answers without it): the model
    writes the reasoning (empty when the record has none), closes the block, then answers."""
    shared = os.path.commonprefix([prompt_text, full_text])
    opened, rest = prompt_text[len(shared):], full_text[len(shared):]
    if opened.strip() != "<think>":
        raise TemplateMismatch(
            f"the chat template renders the conversation before this answer differently for generation "
            f"({_head(opened)!r}) and for training ({_head(rest)!r}), so the model would learn in a context it never "
            "meets",
            problems=[("use a template whose generation prompt is a prefix of the rendered conversation (the "
                       "model's own template, unmodified, usually is)")])
    content = message.get("content") or ""
    reasoning = message.get("reasoning_content") or ""
    if not reasoning and "</think>" in content:
        reasoning = content.split("</think>")[0].split("<think>")[-1]
    return prompt_text + (reasoning.strip("\n") + "\n" if reasoning.strip() else "\n") + "</think>\n\n" + rest.lstrip("\n")


def _content_end(answer_text: str, message: dict[str, Any]) -> int:
    """Where the answer's own words end in its rendered text (templates may trim them)."""
    content = (message.get("content") or "").split("</think>")[-1].strip()
    found = answer_text.rfind(content) if content else -1
    return found + len(content) if found >= 0 else 0


def _head(text: str, width: int = 40) -> str:
    return text[:width]


def _tail(text: str, width: int = 40) -> str:
    return text[-width:]


def end_of_turn_id_set(tokenizer: Any) -> set[int]:
    """EOS and the end-of-turn tokens of the common chat formats that this vocabulary holds."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    for token in ("<|im_end|>", "<|eot_id|>", "<|eom_id|>", "<end_of_turn>", "<|end|>", "</s>"):
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
    return [render_ids(messages, tokenizer, generation_prompt=True) for messages in conversations]
