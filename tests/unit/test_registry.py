"""The registry's architecture numbers: rebuilt from the copied config.json keys, and checked against the published sizes."""

import json
import re
from pathlib import Path

import pytest
from transformers import AutoConfig

from antrenor.models.memory import architecture_from_config, count_parameters
from antrenor.models.registry import GEMMA3_SIGLIP, REGISTRY, gemma3_vision_parameters

CONFIGS = json.loads((Path(__file__).parent / "fixtures" / "registry_configs.json").read_text())
COPIED = {alias: item for alias, item in CONFIGS.items() if not alias.startswith("_")}


def full_config(config: dict) -> dict:
    """The whole config as transformers builds it from the copied keys (defaults a hub config.json leaves implicit)."""
    config = dict(config)
    return AutoConfig.for_model(config.pop("model_type"), **config).to_dict()


FULL_CONFIGS = {alias: full_config(item["config"]) for alias, item in COPIED.items()}  # built once, at collection
CHAT_TEMPLATES = {"chatml", "gemma", "llama3", "mistral-v3", "qwen3-thinking", "phi3"}


@pytest.mark.parametrize("alias", sorted(COPIED))
def test_registry_numbers_equal_the_copied_config_json(alias):
    full = FULL_CONFIGS[alias]
    kind, arch = architecture_from_config(full)
    entry = REGISTRY[alias]
    assert (kind, arch) == (entry.architecture, entry.arch)
    text = full.get("text_config") or full
    assert entry.context_length == text["max_position_embeddings"]
    assert entry.source, f"{alias}: say where the numbers come from"


def test_registry_sizes_match_the_published_ones():
    """The parameters counted from the numbers are within 3 % of the published size, for every entry (rounded
    sizes like "1.7B" allow no tighter bound; a wrong layer count or hidden size misses by far more)."""
    off = {}
    for entry in REGISTRY.values():
        task = "sft" if entry.architecture == "causal-lm" else "classification"
        counted = count_parameters(entry.arch, entry.architecture, task) / 1e6
        if abs(counted / entry.params_millions - 1) > 0.03:
            off[entry.alias] = (round(counted), entry.params_millions)
    assert off == {}


def test_gemma3_vision_tower_is_counted_like_the_checkpoint():
    # google/gemma-3-4b-it holds 4,300,079,472 parameters; its decoder 3,880,263,168 of them (with the four norms
    # per layer and the q/k norms that count_parameters leaves out: 34 x (2 x 2560 + 2 x 256) = 191,488).
    assert gemma3_vision_parameters(GEMMA3_SIGLIP, 2560) == 4_300_079_472 - 3_880_263_168
    decoder = REGISTRY["gemma-3-4b-it"].arch
    assert count_parameters(decoder, "causal-lm") + 34 * (2 * 2560 + 2 * 256) == 4_300_079_472


def test_every_llm_names_its_chat_template_licence_and_romanian_support():
    for entry in REGISTRY.values():
        if entry.architecture != "causal-lm":
            continue
        assert entry.chat_template in CHAT_TEMPLATES or entry.chat_template.startswith("own"), entry.alias
        assert entry.license and re.search(r"\bro\b|Romanian", entry.languages), entry.alias  # says how Romanian fares
    assert {REGISTRY[a].license for a in ("rollama3.1-8b-instruct", "rogemma2-9b-instruct", "romistral-7b-instruct")} \
        == {"CC BY-NC 4.0"}
    assert REGISTRY["gemma3-270m"].embedded and REGISTRY["gemma3-270m"].hub_id == "google/gemma-3-270m"


def test_docs_list_every_registry_entry():
    table = (Path(__file__).resolve().parents[2] / "docs" / "models.md").read_text(encoding="utf-8")
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == list(REGISTRY)
    for row, entry in zip(rows, REGISTRY.values()):
        assert f"| {entry.params_millions:,g}M |" in row and entry.license in row and entry.languages in row
