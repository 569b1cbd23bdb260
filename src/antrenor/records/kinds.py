"""Record kinds: how each is recognized from its fields, validated, and written.

Canonical forms (the fields written to train/validation/test.jsonl; other fields a record
carries are kept after them, untouched):

    instruction     {"instruction", "input", "output"}            Alpaca; Dolly's context/response mapped
    chat            {"messages": [{"role", "content"}, ...]}      ShareGPT conversations/from/value mapped
    completion      {"prompt", "completion"}
    text            {"text"}                                        continued pre-training
    classification  {"text", "label"} or {"text", "labels": [...]} multi-label
    pairs           {"text_a", "text_b", "label" or "score"}       sentence1/sentence2 mapped
    preference      {"prompt", "chosen", "rejected"}               strings or message lists
    feedback        {"prompt", "completion", "label": true/false}  unpaired (KTO): is the completion desirable?

A prompt + completion record is feedback when it has a `label` and plain completion otherwise;
a feedback label must be a boolean (CSV's "true"/"false"/"1"/"0" and the numbers 1/0 are converted).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from antrenor.records.problem import Problem

# Tried in this order: the first kind whose signature a record has wins.
DETECTION_ORDER = ("preference", "feedback", "chat", "instruction", "completion", "pairs", "classification", "text")
ROLE_NAMES = {"system": "system", "user": "user", "assistant": "assistant", "tool": "tool",
              "human": "user", "gpt": "assistant", "bot": "assistant", "model": "assistant"}
ALIASES = {  # other common names -> canonical
    "context": "input", "response": "output",
    "sentence1": "text_a", "sentence2": "text_b", "premise": "text_a", "hypothesis": "text_b",
    "conversations": "messages",
}
SIGNATURES = {
    "preference": ({"prompt", "chosen", "rejected"}, set()),
    "feedback": ({"prompt", "completion", "label"}, set()),
    "chat": ({"messages"}, set()),
    "instruction": ({"instruction", "output"}, set()),
    "completion": ({"prompt", "completion"}, set()),
    "pairs": ({"text_a", "text_b"}, {"label", "score"}),
    "classification": ({"text"}, {"label", "labels"}),
    "text": ({"text"}, set()),
}


class RecordInvalid(Exception):
    def __init__(self, problem: Problem):
        super().__init__(problem.reason)
        self.problem = problem


def apply_columns(fields: dict[str, Any], columns: dict[str, str]) -> dict[str, Any]:
    """Rename the user's columns (canonical -> theirs in the config) and the common aliases."""
    renamed = dict(fields)
    for canonical, theirs in columns.items():
        if theirs in renamed and canonical != theirs:
            renamed[canonical] = renamed.pop(theirs)
    for alias, canonical in ALIASES.items():
        if alias in renamed and canonical not in renamed and alias not in columns.values():
            renamed[canonical] = renamed.pop(alias)
    return renamed


def matching_kind(fields: dict[str, Any]) -> str | None:
    for kind in DETECTION_ORDER:
        required, any_of = SIGNATURES[kind]
        if required <= fields.keys() and (not any_of or any_of & fields.keys()):
            return kind
    return None


def detect_kind(samples: list[dict[str, Any]]) -> tuple[str | None, str]:
    """Pick the kind most sampled records match; also return a sentence saying why."""
    votes = Counter(matching_kind(fields) for fields in samples)
    if not samples:
        return None, "no readable record to detect the kind from"
    kind, count = max(((k, c) for k, c in votes.items() if k), key=lambda kc: kc[1], default=(None, 0))
    if kind is None or count < len(samples) / 2:
        seen = Counter(key for fields in samples for key in fields)
        common = ", ".join(name for name, _ in seen.most_common(8))
        return None, (
            f"no record kind matches most records (fields seen: {common}); map your columns, "
            "e.g. --set columns.text=body --set columns.label=category, or pass --kind"
        )
    return kind, f"{count} of {len(samples)} sampled records have the fields of '{kind}'"


def to_canonical(fields: dict[str, Any], kind: str) -> dict[str, Any]:
    """Validate a record as `kind` and return it in canonical form; raise RecordInvalid."""
    build = _BUILDERS[kind]
    record = build(fields)
    canonical_keys = set(record) | _consumed_keys(kind)
    for key, value in fields.items():
        if key not in canonical_keys and key != "split":
            record[key] = value
    return record


def text_fields(record: dict[str, Any], kind: str) -> list[str]:
    """Every piece of text the record holds, in order (for dedup and length checks)."""
    if kind == "chat":
        return [m["content"] for m in record["messages"]]
    if kind == "preference":
        return [_as_text(record["prompt"]), _as_text(record["chosen"]), _as_text(record["rejected"])]
    if kind == "feedback":
        return [_as_text(record["prompt"]), record["completion"]]
    return [record[key] for key in TEXT_KEYS[kind] if record.get(key)]


def to_messages(record: dict[str, Any], kind: str) -> list[dict[str, str]]:
    """The conversation a chat model is trained on, for instruction/chat/completion records."""
    if kind == "chat":
        return record["messages"]
    if kind == "instruction":
        user = record["instruction"] + (f"\n\n{record['input']}" if record.get("input") else "")
        return [{"role": "user", "content": user}, {"role": "assistant", "content": record["output"]}]
    if kind == "completion":
        return [{"role": "user", "content": record["prompt"]}, {"role": "assistant", "content": record["completion"]}]
    raise ValueError(f"{kind} records are not conversations")


TEXT_KEYS = {
    "instruction": ("instruction", "input", "output"),
    "completion": ("prompt", "completion"),
    "text": ("text",),
    "classification": ("text",),
    "pairs": ("text_a", "text_b"),
}
# The text a user types (instruction, question, input): what augmentation may alter.
USER_SIDE_KEYS = {
    "instruction": ("instruction", "input"),
    "completion": ("prompt",),
    "classification": ("text",),
    "pairs": ("text_a", "text_b"),
    "preference": ("prompt",),
    "feedback": ("prompt",),
    "text": (),
}
# Kinds whose prompt may be a string or a list of messages, and their answer fields.
PROMPT_AND_ANSWERS = {"preference": ("chosen", "rejected"), "feedback": ("completion",)}
FEEDBACK_LABELS = {"true": True, "false": False, "1": True, "0": False}


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return "\n".join(m["content"] for m in value)


def _consumed_keys(kind: str) -> set[str]:
    return {"conversations", "messages"} if kind == "chat" else set()


def _missing(name: str, kind: str) -> RecordInvalid:
    required, any_of = SIGNATURES[kind]
    needed = ", ".join(sorted(required)) + (f" and one of {'/'.join(sorted(any_of))}" if any_of else "")
    return RecordInvalid(Problem(
        "missing_field", f"missing field '{name}' for a {kind} record",
        f"a {kind} record needs {needed}; map other names with --set columns.{name}=YOUR_NAME",
    ))


def _string(fields: dict[str, Any], name: str, kind: str, required: bool = True) -> str:
    value = fields.get(name)
    if value is None:
        if required:
            raise _missing(name, kind)
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise RecordInvalid(Problem("wrong_type", f"field '{name}' should be text, found {type(value).__name__}",
                                    f"make '{name}' a string"))
    return value


def _label(value: Any, name: str) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (str, int)):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise RecordInvalid(Problem("wrong_type", f"field '{name}' should be a class name or integer, found {value!r}",
                                "use strings or integers as labels (a float score belongs in a pairs record's 'score')"))


def _build_instruction(f: dict[str, Any]) -> dict[str, Any]:
    return {"instruction": _string(f, "instruction", "instruction"),
            "input": _string(f, "input", "instruction", required=False),
            "output": _string(f, "output", "instruction")}


def _build_completion(f: dict[str, Any]) -> dict[str, Any]:
    return {"prompt": _string(f, "prompt", "completion"), "completion": _string(f, "completion", "completion")}


def _build_text(f: dict[str, Any]) -> dict[str, Any]:
    return {"text": _string(f, "text", "text")}


def _build_classification(f: dict[str, Any]) -> dict[str, Any]:
    text = _string(f, "text", "classification")
    if f.get("labels") is not None:
        labels = f["labels"]
        if not isinstance(labels, list) or not labels:
            raise RecordInvalid(Problem("wrong_type", "field 'labels' should be a non-empty list of labels",
                                        "use 'label' for one class, 'labels': [..] for several"))
        return {"text": text, "labels": sorted({_label(v, "labels") for v in labels}, key=str)}
    if f.get("label") is None:
        raise _missing("label", "classification")
    return {"text": text, "label": _label(f["label"], "label")}


def _build_pairs(f: dict[str, Any]) -> dict[str, Any]:
    record = {"text_a": _string(f, "text_a", "pairs"), "text_b": _string(f, "text_b", "pairs")}
    if f.get("score") is not None:
        try:
            record["score"] = float(f["score"])
        except (TypeError, ValueError):
            raise RecordInvalid(Problem("wrong_type", f"field 'score' should be a number, found {f['score']!r}",
                                        "use a number (e.g. 3.8)")) from None
    elif f.get("label") is not None:
        record["label"] = _label(f["label"], "label")
    else:
        raise _missing("label", "pairs")
    return record


def _build_chat(f: dict[str, Any]) -> dict[str, Any]:
    raw = f.get("messages")
    if not isinstance(raw, list) or not raw:
        raise RecordInvalid(Problem("wrong_type", "field 'messages' should be a non-empty list of messages",
                                    'use [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]'))
    return {"messages": _messages(raw)}


def _messages(raw: list[Any]) -> list[dict[str, str]]:
    messages = []
    for position, message in enumerate(raw, start=1):
        if not isinstance(message, dict):
            raise RecordInvalid(Problem("wrong_type", f"message {position} is not an object", "each message needs role and content"))
        role = message.get("role", message.get("from"))
        content = message.get("content", message.get("value"))
        if role not in ROLE_NAMES:
            raise RecordInvalid(Problem("bad_role", f"message {position} has role {role!r}",
                                        f"use one of {', '.join(sorted(set(ROLE_NAMES.values())))} (ShareGPT human/gpt are mapped)"))
        if not isinstance(content, str):
            raise RecordInvalid(Problem("wrong_type", f"message {position} has no text content", "give every message a 'content' string"))
        messages.append({"role": ROLE_NAMES[role], "content": content})
        if ROLE_NAMES[role] == "assistant" and isinstance(message.get("reasoning_content"), str):
            messages[-1]["reasoning_content"] = message["reasoning_content"]  # reasoning templates render it (Qwen3)
    if not any(m["role"] == "assistant" for m in messages):
        raise RecordInvalid(Problem("no_assistant", "the conversation has no assistant message", "add the answer the model should learn"))
    return messages


def _build_preference(f: dict[str, Any]) -> dict[str, Any]:
    record = {}
    for name in ("prompt", "chosen", "rejected"):
        value = f.get(name)
        if value is None:
            raise _missing(name, "preference")
        record[name] = _messages(value) if isinstance(value, list) and name != "prompt" else (
            _messages_or_text(value, name))
    if record["chosen"] == record["rejected"]:
        raise RecordInvalid(Problem("same_answers", "chosen and rejected are identical", "a preference pair needs two different answers"))
    return record


def _build_feedback(f: dict[str, Any]) -> dict[str, Any]:
    if f.get("prompt") is None:
        raise _missing("prompt", "feedback")
    if f.get("label") is None:
        raise _missing("label", "feedback")
    return {"prompt": _messages_or_text(f["prompt"], "prompt"), "completion": _string(f, "completion", "feedback"),
            "label": _desirable(f["label"])}


def _desirable(value: Any) -> bool:
    """A feedback label as a boolean; CSV gives strings, and some data sets use 1/0."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in FEEDBACK_LABELS:
        return FEEDBACK_LABELS[value.strip().lower()]
    raise RecordInvalid(Problem(
        "bad_label", f"field 'label' of a feedback record should be true or false (is the completion desirable?), "
        f"found {value!r}",
        "use true/false (or 1/0); if 'label' means something else, rename that column or pass --kind completion"))


def _messages_or_text(value: Any, name: str) -> Any:
    if isinstance(value, list):
        return [{"role": ROLE_NAMES.get(m.get("role"), m.get("role")), "content": m.get("content")} for m in value
                if isinstance(m, dict) and isinstance(m.get("content"), str)]
    if not isinstance(value, str):
        raise RecordInvalid(Problem("wrong_type", f"field '{name}' should be text or a list of messages", f"make '{name}' a string"))
    return value


_BUILDERS = {
    "instruction": _build_instruction, "chat": _build_chat, "completion": _build_completion,
    "text": _build_text, "classification": _build_classification, "pairs": _build_pairs,
    "preference": _build_preference, "feedback": _build_feedback,
}


def map_texts(record: dict[str, Any], kind: str, fn, user_side_only: bool = False) -> dict[str, Any]:
    """A copy of `record` with `fn` applied to its text fields (or only to what a user types)."""
    out = dict(record)
    if kind == "chat":
        out["messages"] = [
            {**m, "content": fn(m["content"])} if (not user_side_only or m["role"] == "user") else dict(m)
            for m in record["messages"]
        ]
        return out
    if kind in PROMPT_AND_ANSWERS:
        names = ("prompt",) if user_side_only else ("prompt", *PROMPT_AND_ANSWERS[kind])
        for name in names:
            value = record[name]
            if isinstance(value, str):
                out[name] = fn(value)
            else:
                out[name] = [{**m, "content": fn(m["content"])} if (not user_side_only or m["role"] == "user") else dict(m)
                             for m in value]
        return out
    for key in (USER_SIDE_KEYS[kind] if user_side_only else TEXT_KEYS[kind]):
        if isinstance(out.get(key), str):
            out[key] = fn(out[key])
    return out


def model_inputs(records: list[dict[str, Any]]) -> list[str | tuple[str, str]]:
    """What a classifier reads from each record: its text, or its (text_a, text_b) pair."""
    return [(r["text_a"], r["text_b"]) if "text_a" in r else r["text"] for r in records]


def conversational(records: list[dict[str, Any]], kind: str, algorithm: str | None) -> list[dict[str, Any]]:
    """Prepared preference/feedback records in TRL's conversational format (the chat template applies)."""
    rows = []
    for record in records:
        prompt = prompt_messages(record["prompt"])
        if kind == "feedback":
            rows.append({"prompt": prompt, "completion": _answer(record["completion"]), "label": bool(record["label"])})
        elif algorithm == "kto":  # KTO learns from good and bad examples: each pair gives one of each
            rows.append({"prompt": prompt, "completion": _answer(record["chosen"]), "label": True})
            rows.append({"prompt": prompt, "completion": _answer(record["rejected"]), "label": False})
        else:
            rows.append({"prompt": prompt, "chosen": _answer(record["chosen"]), "rejected": _answer(record["rejected"])})
    return rows


def prompt_messages(prompt: Any) -> list[dict[str, str]]:
    """A preference record's prompt as messages: as given when it is a conversation, else one user turn."""
    if isinstance(prompt, list):
        return prompt
    return to_messages({"prompt": prompt, "completion": ""}, "completion")[:1]


def _answer(answer: Any) -> list[dict[str, str]]:
    return answer if isinstance(answer, list) else [{"role": "assistant", "content": answer}]
