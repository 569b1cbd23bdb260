"""A Hugging Face fast tokenizer as GGUF tokenizer metadata (`tokenizer.ggml.*`), as llama.cpp reads it.

A GGUF file carries no tokenizer.json: the vocabulary, the merges, each token's type and the special
ids are metadata under llama.cpp's key names. Two tokenizer models cover the six supported families:

- `gpt2`, byte-level BPE (Llama 3, SmolLM2, Qwen2/Qwen3): tokens in the byte alphabet, the merges, and a
  pre-tokenizer name (`tokenizer.ggml.pre`) that tells llama.cpp which split regex the merges were
  learned on. The name is found by matching the tokenizer.json split regex against the ones
  transformers' GGUF reader knows (the same table both readers agree on); a SmolLM-style digit split
  is `smollm`; anything else is refused rather than guessed, since a wrong regex tokenizes silently wrong.
- `llama`, SentencePiece-style BPE with byte fallback (Mistral, Phi-3, Gemma 3): `▁`-spelled tokens,
  `<0xNN>` byte tokens, and a score per token. llama.cpp's SentencePiece tokenizer merges the pair whose
  result has the highest score, so each token scores minus the rank of the merge that makes it: the
  merge order of tokenizer.json, which is what its BPE applies. The merges are written too (transformers'
  reader uses them; llama.cpp ignores them for this model).

Token types: CONTROL for special tokens (never produced from text), USER_DEFINED for added tokens that
are not special (matched whole, e.g. `<think>`), BYTE for `<0xNN>`, UNUSED for padding rows the
embedding has beyond the tokenizer, NORMAL otherwise.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from antrenor.errors import AntrenorError
from antrenor.models.chat import end_of_turn_ids

BYTE_TOKEN = re.compile(r"^<0x[0-9A-Fa-f]{2}>$")
# Preferred llama.cpp names for the split regexes in transformers' table (which lists aliases too)
PREFERRED_PRE = ("llama-bpe", "qwen2", "tekken", "gpt-4o")


@dataclass
class GgufVocab:
    model: str  # "gpt2" or "llama"
    pre: str | None
    tokens: list[str]
    scores: list[float] | None
    types: list[int]
    merges: list[str]
    add_space_prefix: bool | None
    special_ids: dict[str, int] = field(default_factory=dict)  # bos, eos, eot, unk, pad
    add_bos: bool = False
    add_eos: bool = False


def gguf_vocab(tokenizer: Any, vocab_size: int) -> GgufVocab:
    """The tokenizer as GGUF metadata, its token list padded to the embedding's `vocab_size` rows."""
    import gguf

    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    model = spec.get("model") or {}
    if model.get("type") != "BPE":
        raise AntrenorError(f"GGUF export supports BPE tokenizers; this one is {model.get('type')}",
                            problems=["export with format safetensors and convert with llama.cpp's convert_hf_to_gguf.py"])
    byte_fallback = bool(model.get("byte_fallback"))
    by_id = {index: token for token, index in tokenizer.get_vocab().items()}
    if len(by_id) > vocab_size:
        raise AntrenorError(f"the tokenizer has {len(by_id)} tokens, more than the model's {vocab_size} embedding rows")
    added = {entry["id"]: entry for entry in spec.get("added_tokens", [])}
    tokens, types = [], []
    for index in range(vocab_size):
        token = by_id.get(index)
        if token is None:
            tokens.append(f"[PAD{index}]")
            types.append(gguf.TokenType.UNUSED)
        elif index in added:
            tokens.append(token)
            types.append(gguf.TokenType.CONTROL if added[index].get("special") else gguf.TokenType.USER_DEFINED)
        elif byte_fallback and BYTE_TOKEN.match(token):
            tokens.append(token)
            types.append(gguf.TokenType.BYTE)
        else:
            tokens.append(token)
            types.append(gguf.TokenType.NORMAL)
    if tokenizer.unk_token_id is not None and types[tokenizer.unk_token_id] != gguf.TokenType.CONTROL:
        types[tokenizer.unk_token_id] = gguf.TokenType.UNKNOWN
    merges = [_merge_line(m) for m in model.get("merges") or []]
    vocab = GgufVocab(model="llama" if byte_fallback else "gpt2", pre=None if byte_fallback else pre_tokenizer_name(spec),
                      tokens=tokens, scores=_merge_scores(tokens, merges) if byte_fallback else None,
                      types=[int(t) for t in types], merges=merges,
                      add_space_prefix=_adds_space_prefix(spec) if byte_fallback else None)
    vocab.special_ids = special_token_ids(tokenizer)
    probe = tokenizer("a")["input_ids"]
    vocab.add_bos = bool(probe) and tokenizer.bos_token_id is not None and probe[0] == tokenizer.bos_token_id
    vocab.add_eos = bool(probe) and tokenizer.eos_token_id is not None and probe[-1] == tokenizer.eos_token_id
    return vocab


def special_token_ids(tokenizer: Any) -> dict[str, int]:
    """bos, eos, unk, pad and eot (the chat template's end-of-turn token, when it is not EOS)."""
    found = {name: getattr(tokenizer, f"{name}_token_id") for name in ("bos", "eos", "unk", "pad")}
    turn_ends = [i for i in end_of_turn_ids(tokenizer) if i != tokenizer.eos_token_id]
    template = getattr(tokenizer, "chat_template", None) or ""
    in_template = [i for i in turn_ends if tokenizer.convert_ids_to_tokens(i) in template]  # not Phi-3's unused </s>
    found["eot"] = (in_template or turn_ends or [tokenizer.eos_token_id])[0]
    return {name: int(value) for name, value in found.items() if value is not None}


def stop_tokens(tokenizer: Any) -> list[str]:
    """The token strings generation stops on: EOS and the end-of-turn tokens of the vocabulary."""
    return [tokenizer.convert_ids_to_tokens(i) for i in end_of_turn_ids(tokenizer)]


def pre_tokenizer_name(spec: dict[str, Any]) -> str:
    """llama.cpp's name for the byte-level pre-tokenizer in a tokenizer.json (`tokenizer.ggml.pre`)."""
    from transformers.integrations.gguf.gguf_tokenizer_mapping import GGUF_PRE_TOKENIZER_SPLITS

    parts = _pre_tokenizers(spec.get("pre_tokenizer"))
    regexes = [p["pattern"].get("Regex") for p in parts if p.get("type") == "Split" and isinstance(p.get("pattern"), dict)]
    kinds = [p.get("type") for p in parts]
    if regexes:
        names = [name for name, regex in GGUF_PRE_TOKENIZER_SPLITS.items() if regex == regexes[0]]
        for name in PREFERRED_PRE:
            if name in names:
                return name
        if names:
            return names[0]
    elif kinds == ["Digits", "ByteLevel"] and parts[0].get("individual_digits"):
        return "smollm"
    elif kinds == ["ByteLevel"] and parts[0].get("use_regex", True):
        return "gpt-2"
    raise AntrenorError("the tokenizer's pre-tokenizer is not one llama.cpp is known to reproduce: "
                        f"{json.dumps(spec.get('pre_tokenizer'))[:200]}",
                        problems=["convert with llama.cpp's convert_hf_to_gguf.py, which identifies more tokenizers"])


def _pre_tokenizers(entry: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not entry:
        return []
    if entry.get("type") == "Sequence":
        return [p for item in entry.get("pretokenizers", []) for p in _pre_tokenizers(item)]
    return [entry]


def _merge_line(merge: str | list[str]) -> str:
    """A merge as llama.cpp stores it: "left right", a space inside a part written as U+0120 + 256."""
    if isinstance(merge, str):
        return merge
    return " ".join("".join(chr(ord(c) + 256) if c == " " else c for c in part) for part in merge)


def _merge_scores(tokens: list[str], merges: list[str]) -> list[float]:
    """Minus the rank of the first merge that makes each token; 0 for tokens no merge makes."""
    rank: dict[str, int] = {}
    for index, merge in enumerate(merges):
        left, right = merge.split(" ", 1)
        rank.setdefault(left + right, index)
    return [-float(rank[t]) if t in rank else 0.0 for t in tokens]


def _adds_space_prefix(spec: dict[str, Any]) -> bool:
    """Whether the SentencePiece-style tokenizer prepends "▁" to the text (Llama 2, Mistral, Phi-3; not Gemma)."""
    for part in _pre_tokenizers(spec.get("pre_tokenizer")):
        if part.get("type") == "Metaspace":
            return part.get("prepend_scheme", "always") != "never" and part.get("add_prefix_space", True)
    normalizer = spec.get("normalizer") or {}
    steps = normalizer.get("normalizers", [normalizer]) if normalizer.get("type") == "Sequence" else [normalizer]
    return any(step.get("type") == "Prepend" for step in steps)
