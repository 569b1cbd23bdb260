"""Tiny random models of the six GGUF-exported architectures, each with a tokenizer of its family's kind.

The tokenizers are trained in memory on antrenor's Romanian sample text (a few hundred tokens, no
download) and carry the family's special tokens and a chat template of its shape:
byte-level BPE for Llama 3 / Qwen2 / Qwen3, SentencePiece-style BPE with byte fallback for
Mistral / Phi-3 / Gemma 3.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from tests.conftest import RESOURCES

LLAMA3_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
    "{{ m['content'] | trim }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
CHATML_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
MISTRAL_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}[INST] {{ m['content'] }}[/INST]"
    "{% elif m['role'] == 'assistant' %}{{ m['content'] }}{{ eos_token }}{% endif %}{% endfor %}"
)
PHI3_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% else %}{{ eos_token }}{% endif %}"
)

# family: (tokenizer kind, special tokens in id order, bos, eos, pad, extra non-special added tokens, template)
FAMILIES = {
    "llama": ("byte", ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
              "<|begin_of_text|>", "<|eot_id|>", "<|end_of_text|>", [], LLAMA3_TEMPLATE),
    "qwen2": ("byte", ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], None, "<|im_end|>", "<|endoftext|>", [],
              CHATML_TEMPLATE),
    "qwen3": ("byte", ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], None, "<|im_end|>", "<|endoftext|>",
              ["<think>", "</think>"], CHATML_TEMPLATE),
    "mistral": ("spm", ["<unk>", "<s>", "</s>", "[INST]", "[/INST]"], "<s>", "</s>", None, [], MISTRAL_TEMPLATE),
    "phi3": ("spm", ["<unk>", "<s>", "</s>", "<|endoftext|>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>"],
             "<s>", "<|endoftext|>", "<|endoftext|>", [], PHI3_TEMPLATE),
    "gemma3_text": ("gemma", ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"], "<bos>", "<eos>",
                    "<pad>", [], None),
}


def corpus() -> list[str]:
    return (RESOURCES / "general_ro.txt").read_text(encoding="utf-8").splitlines()


@cache
def family_tokenizer(family: str):
    """A fast tokenizer of the family's kind with its special tokens and chat template (cached: treat as read-only)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    from transformers.integrations.gguf.gguf_tokenizer_mapping import GGUF_PRE_TOKENIZER_SPLITS

    from antrenor.models.chat import GEMMA_CHAT_TEMPLATE

    kind, specials, bos, eos, pad, extra, template = FAMILIES[family]
    if kind == "byte":
        backend = Tokenizer(models.BPE())
        split = GGUF_PRE_TOKENIZER_SPLITS["llama-bpe" if family == "llama" else "qwen2"]
        backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(split), "isolated"),
                                                         pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
        backend.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=420, special_tokens=[], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                      show_progress=False)
    else:
        backend = Tokenizer(models.BPE(byte_fallback=True, unk_token="<unk>" if "<unk>" in specials else None))
        steps = [normalizers.Replace(" ", "\u2581")]
        if kind == "spm":
            steps.insert(0, normalizers.Prepend("\u2581"))
        backend.normalizer = normalizers.Sequence(steps)
        backend.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()]
                                            + ([decoders.Strip(" ", 1, 0)] if kind == "spm" else []))
        trainer = trainers.BpeTrainer(vocab_size=420, special_tokens=[*specials] + [f"<0x{b:02X}>" for b in range(256)],
                                      show_progress=False)
    backend.train_from_iterator(corpus(), trainer)
    # byte-level: the specials come after the learned vocabulary, as in Llama 3 and Qwen; else they are its first ids
    backend.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    if extra:
        backend.add_tokens([AddedToken(t, special=False, normalized=False) for t in extra])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=bos, eos_token=eos, pad_token=pad,
                                        unk_token="<unk>" if "<unk>" in specials else None)
    if bos and kind != "byte":
        from tokenizers import processors

        tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tokenizer.convert_tokens_to_ids(bos))])
    tokenizer.chat_template = template or GEMMA_CHAT_TEMPLATE
    return tokenizer


def family_config(family: str, vocab_size: int):
    """A 2-layer config of the family's architecture (hidden 64, 4 heads, 2 key/value heads)."""
    from transformers import AutoConfig

    tokenizer = family_tokenizer(family)
    common = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
              "num_key_value_heads": 2, "vocab_size": vocab_size, "max_position_embeddings": 256,
              "eos_token_id": tokenizer.eos_token_id, "bos_token_id": tokenizer.bos_token_id,
              "pad_token_id": tokenizer.pad_token_id, "tie_word_embeddings": family in ("llama", "gemma3_text", "qwen3")}
    extra = {"qwen3": {"head_dim": 128}, "gemma3_text": {"head_dim": 256, "query_pre_attn_scalar": 256},
             "qwen2": {}, "phi3": {}, "mistral": {"sliding_window": None}, "llama": {}}[family]
    return AutoConfig.for_model(family, **common, **extra)


def family_model_dir(folder: Path, family: str, seed: int = 0) -> Path:
    """Save a random model of `family` with its tokenizer in `folder`; the embedding has 8 spare rows."""
    from transformers import AutoModelForCausalLM, set_seed

    set_seed(seed)
    tokenizer = family_tokenizer(family)
    config = family_config(family, len(tokenizer) + 8)
    model = AutoModelForCausalLM.from_config(config)
    _spread_weights(model)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _spread_weights(model) -> None:
    """Random norms and biases too (initialised to 1 / 0 they would hide a wrong norm offset or bias mapping)."""
    import torch

    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if parameter.dim() == 1:
                parameter.add_(0.2 * torch.randn(parameter.shape, generator=generator))
