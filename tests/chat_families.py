"""Tiny stand-ins for the chat model families antrenor supports: each family's real chat template (vendored in
tests/fixtures/chat_templates, sources in SOURCES.md), a byte-level BPE tokenizer trained on a few lines that
carries the family's special tokens, and a 2-layer random model of the family's architecture."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent / "fixtures" / "chat_templates"
CORPUS = [
    "The capital of France is Paris. The capital of Romania is Bucharest.",
    "You are a helpful assistant. Answer in one short sentence, please.",
    "What is the capital of France? Which city is the capital of Romania?",
    "Cutting Knowledge Date: December 2023 Today Date: 26 Jul 2024",
    "Let me think about it: the answer is a city in Europe. Thanks!",
    "one two three four five six seven eight nine ten",
]


@dataclass(frozen=True)
class Family:
    name: str
    template: str  # file in tests/fixtures/chat_templates
    architecture: str  # the transformers config class
    specials: tuple[str, ...]  # special tokens of the vocabulary (bos/eos/pad among them)
    eos: str
    end_of_turn: str  # the token each answer ends with, generation stops on it
    bos: str | None = None
    pad: str | None = None
    plain_added: tuple[str, ...] = field(default=())  # added tokens that are not special (<think> in Qwen3)


FAMILIES = {f.name: f for f in [
    Family("llama3_1", "llama3_1.jinja", "LlamaConfig",
           ("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",
            "<|eom_id|>", "<|python_tag|>"), "<|eot_id|>", "<|eot_id|>", bos="<|begin_of_text|>"),
    Family("llama3_2", "llama3_2.jinja", "LlamaConfig",
           ("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",
            "<|eom_id|>", "<|python_tag|>"), "<|eot_id|>", "<|eot_id|>", bos="<|begin_of_text|>"),
    Family("qwen2_5", "qwen2_5.jinja", "Qwen2Config", ("<|endoftext|>", "<|im_start|>", "<|im_end|>"),
           "<|im_end|>", "<|im_end|>", pad="<|endoftext|>"),
    Family("qwen3", "qwen3.jinja", "Qwen3Config", ("<|endoftext|>", "<|im_start|>", "<|im_end|>"),
           "<|im_end|>", "<|im_end|>", pad="<|endoftext|>", plain_added=("<think>", "</think>")),
    Family("gemma2", "gemma2.jinja", "Gemma2Config", ("<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>"),
           "<eos>", "<end_of_turn>", bos="<bos>", pad="<pad>"),
    Family("gemma3", "gemma3.jinja", "Gemma3TextConfig",
           ("<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>"), "<eos>", "<end_of_turn>", bos="<bos>",
           pad="<pad>"),
    Family("mistral_v03", "mistral_v03.jinja", "MistralConfig",
           ("<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[TOOL_CALLS]", "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]",
            "[TOOL_RESULTS]", "[/TOOL_RESULTS]"), "</s>", "</s>", bos="<s>"),
    Family("phi3", "phi3.jinja", "Phi3Config",
           ("<unk>", "<s>", "<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"), "<|endoftext|>",
           "<|end|>", bos="<s>"),
    Family("phi4_mini", "phi4_mini.jinja", "Phi3Config",
           ("<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>", "<|tool|>", "<|/tool|>"),
           "<|endoftext|>", "<|end|>", bos="<|endoftext|>"),
    Family("deepseek_r1_distill_qwen", "deepseek_r1_distill_qwen.jinja", "Qwen2Config",
           ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>"),
           "<｜end▁of▁sentence｜>", "<｜end▁of▁sentence｜>", bos="<｜begin▁of▁sentence｜>",
           plain_added=("<think>", "</think>")),
    Family("smollm2", "smollm2.jinja", "LlamaConfig", ("<|endoftext|>", "<|im_start|>", "<|im_end|>"), "<|im_end|>",
           "<|im_end|>", bos="<|im_start|>", pad="<|endoftext|>"),
]}


@cache
def _trained_backend(specials: tuple[str, ...]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=list(specials), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    backend.train_from_iterator(CORPUS, trainer)
    return backend.to_str()


def family_tokenizer(name: str):
    """A fresh tokenizer of the family (callers may change it): real template, the family's special tokens."""
    from tokenizers import AddedToken, Tokenizer
    from transformers import PreTrainedTokenizerFast

    family = FAMILIES[name]
    backend = Tokenizer.from_str(_trained_backend(family.specials))
    named = {family.eos, family.bos, family.pad} - {None}
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, eos_token=family.eos, bos_token=family.bos, pad_token=family.pad,
        additional_special_tokens=[t for t in family.specials if t not in named], clean_up_tokenization_spaces=False)
    if family.plain_added:
        tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in family.plain_added])
    tokenizer.chat_template = (TEMPLATES / family.template).read_text(encoding="utf-8")
    return tokenizer


def family_model(name: str, tokenizer, seed: int = 0):
    """A 2-layer random model of the family's architecture, sized to the tokenizer."""
    import transformers
    from transformers import AutoModelForCausalLM, set_seed

    family = FAMILIES[name]
    set_seed(seed)
    config = getattr(transformers, family.architecture)(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=8, max_position_embeddings=512, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id)
    return AutoModelForCausalLM.from_config(config)
