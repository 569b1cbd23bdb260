"""The chat-template check before training: what will be trained, shown, and refused when it is wrong.

`check_chat_template` renders a few records the way training will (models/chat.py) and checks what the
trainers cannot see for themselves:
- every answer's context equals the prompt generation will give the model (`conversation_prompt_ids`), so the
  model is taught in the situation it will meet;
- every answer ends with an end-of-turn token that generation stops on, written by the template (a turn marker
  the vocabulary splits into ordinary tokens would be learned as text, and generation would never stop);
- no checked example is longer than max_length where the trainer would cut it (TRL's preference trainers);
  SFT drops such examples instead of cutting them, so for SFT they are a warning.
It is cheap (a handful of records, no model), so `train` runs it at the start of every SFT and preference run,
and `antrenor train --dry-run` prints it with the trained spans marked:

    >>> report = check_chat_template(records, "chat", tokenizer, max_length=1024)
    >>> print(report.examples[0])   # «...» marks the trained tokens
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from antrenor.errors import ConfigError
from antrenor.models.chat import (
    IGNORE,
    TemplateMismatch,
    assistant_turn,
    conversation_prompt_ids,
    encode_conversation_examples,
    end_of_turn_id_set,
)
from antrenor.records.kinds import conversational, to_messages

CHECKED_RECORDS = 8
OPEN, CLOSE = "«", "»"


@dataclass
class TemplateReport:
    end_of_turn: list[str]  # the tokens generation stops on
    examples: list[str] = field(default_factory=list)  # rendered examples, trained spans between « and »
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    longest: int = 0  # tokens in the longest checked example

    def raise_for_problems(self) -> None:
        if self.problems:
            raise ConfigError("the chat template would train this model wrongly:", problems=self.problems)


def check_chat_template(records: list[dict[str, Any]], kind: str, tokenizer: Any, max_length: int,
                        shown: int = 2, checked: int = CHECKED_RECORDS) -> TemplateReport:
    """Render the first `checked` records as training will; report problems and `shown` marked examples.
    Preference records (prompt/chosen/rejected) are checked as prompt + chosen and prompt + rejected."""
    cuts = kind not in ("instruction", "chat", "completion")  # TRL cuts long pairs; SFT drops long examples
    end_ids = end_of_turn_id_set(tokenizer)
    report = TemplateReport(end_of_turn=[tokenizer.convert_ids_to_tokens(i) for i in sorted(end_ids)])
    for number, messages in enumerate(_conversations(records[:checked], kind), start=1):
        try:
            examples = encode_conversation_examples(messages, tokenizer)
            problems = _turn_problems(messages, tokenizer, end_ids)
        except TemplateMismatch as error:
            report.problems.append(f"record {number}: training and inference render it differently: {error}")
            continue
        report.problems += [f"record {number}: {p}" for p in problems]
        for ids, labels in examples:
            report.longest = max(report.longest, len(ids))
            if len(ids) > max_length:
                fix = (f"raise max_length to at least {len(ids)}, or filter long records in prepare "
                       "(filters.max_length)")
                if cuts:
                    report.problems.append(f"record {number}: {len(ids)} tokens, more than max_length={max_length}: "
                                           f"the trainer would cut its answer; {fix}")
                else:
                    report.warnings.append(f"record {number}: {len(ids)} tokens, more than max_length={max_length}: "
                                           f"the example is left out of training; {fix}")
            if len(report.examples) < shown:
                report.examples.append(marked_rendering(ids, labels, tokenizer))
    return report


def require_sound_template(records: list[dict[str, Any]], kind: str, tokenizer: Any, max_length: int) -> TemplateReport:
    """`check_chat_template`, raising a ConfigError that lists every problem (the start of SFT and preference runs)."""
    report = check_chat_template(records, kind, tokenizer, max_length, shown=0)
    report.raise_for_problems()
    return report


def marked_rendering(ids: list[int], labels: list[int], tokenizer: Any) -> str:
    """The example's text with each trained span between « and »."""
    pieces, span, trained = [], [], False
    for token, label in zip(ids, labels):
        if (label != IGNORE) != trained:
            pieces.append(_decoded(span, tokenizer, trained))
            span, trained = [], label != IGNORE
        span.append(token)
    pieces.append(_decoded(span, tokenizer, trained))
    return "".join(pieces)


def _decoded(span: list[int], tokenizer: Any, trained: bool) -> str:
    text = tokenizer.decode(span, skip_special_tokens=False, clean_up_tokenization_spaces=False) if span else ""
    return f"{OPEN}{text}{CLOSE}" if trained and span else text


def _turn_problems(messages: list[dict[str, Any]], tokenizer: Any, end_ids: set[int]) -> list[str]:
    """Answers whose context differs from generation's prompt, or whose end-of-turn is not a token generation
    stops on."""
    problems = []
    for position, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        turn = assistant_turn(messages, position, tokenizer, end_ids)
        if turn.prompt != conversation_prompt_ids([messages[:position]], tokenizer)[0]:
            problems.append(f"answer {position + 1} is trained after a prompt that generation does not give")
        if not turn.answer or turn.answer[-1] not in end_ids:
            problems.append(f"answer {position + 1} is trained without an end-of-turn token (the tokenizer has no EOS "
                            "either): the model would never learn to stop; set an eos_token or a chat template with "
                            "an end-of-turn token")
        elif turn.appended_eos and turn.unmarked_end.strip():
            problems.append(
                f"answer {position + 1} ends with {turn.unmarked_end.strip()!r}, which is not an end-of-turn token of "
                "this vocabulary: the model would learn to write it as text and generation would not stop there; "
                "use a chat template whose markers are special tokens of this tokenizer (remove the chat template "
                "and antrenor picks one the vocabulary supports), or add the marker as a special token")
    return problems


def _conversations(records: list[dict[str, Any]], kind: str) -> list[list[dict[str, Any]]]:
    """The conversations to check: SFT records as trained; preference records as prompt + chosen and prompt +
    rejected (TRL's trainers render them with the same template)."""
    if kind in ("instruction", "chat", "completion"):
        return [to_messages(r, kind) for r in records]
    conversations = []
    for row in conversational(records, kind, None):
        prompt = row.get("prompt") or []
        for answer in ("chosen", "rejected", "completion"):
            if isinstance(row.get(answer), list):
                conversations.append(list(prompt) + list(row[answer]))
    return conversations
