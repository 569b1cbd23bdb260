"""Loading models for a task, safely: safetensors only and no remote code unless the config allows it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from antrenor.errors import AntrenorError
from antrenor.models.registry import ResolvedModel, resolve_model

AUTO_CLASSES = {
    "causal-lm": "AutoModelForCausalLM",
    "sequence-classification": "AutoModelForSequenceClassification",
    "masked-lm": "AutoModelForMaskedLM",
}


def check_weights_are_safe(location: str, allow_pickle: bool) -> None:
    """Refuse a local folder holding only pickle (.bin/.pt) weights unless explicitly allowed."""
    folder = Path(location)
    if not folder.is_dir() or allow_pickle:
        return
    if any(folder.glob("*.safetensors")):
        return
    pickled = [p.name for p in folder.glob("*.bin")] + [p.name for p in folder.glob("*.pt")]
    if pickled:
        raise AntrenorError(
            f"{folder} holds only pickle weights ({', '.join(sorted(pickled)[:3])}): loading them can run arbitrary code",
            problems=["convert them to safetensors, or set allow_pickle: true if you trust their source"],
        )


def load_pretrained(name: str, head: str, *, trust_remote_code: bool = False, allow_pickle: bool = False,
                    **kwargs: Any) -> tuple[Any, ResolvedModel]:
    import transformers

    resolved = resolve_model(name)
    check_weights_are_safe(resolved.location, allow_pickle)
    auto_class = getattr(transformers, AUTO_CLASSES[head])
    try:
        model = auto_class.from_pretrained(resolved.location, trust_remote_code=trust_remote_code,
                                           use_safetensors=None if allow_pickle else True, **kwargs)
    except (OSError, ValueError) as exc:
        raise AntrenorError(
            f"could not load {name!r} as a {head} model",
            problems=[str(exc).splitlines()[0],
                      "offline? use a local folder or an embedded alias (smollm2-135m-instruct, minilm-l6)"],
        ) from None
    return model, resolved
