"""GGUF export of a merged causal LM, written with the `gguf` Python package (no llama.cpp build).

GGUF is the single-file format of llama.cpp and Ollama: the weights (optionally quantized), the model's
shape as metadata under the architecture's keys, and the tokenizer, chat template and stop tokens
(see `gguf_vocab`). The tensor names come from gguf-py's own table (`gguf.get_tensor_name_map`), the
keys from `gguf.GGUFWriter`; what is left per architecture is what llama.cpp's `convert_hf_to_gguf.py`
changes in the values:

- `llama` (Llama, SmolLM2, Mistral, which llama.cpp runs as `llama`): q and k rows are permuted per head
  from Hugging Face's rotate-half layout to the interleaved pairs llama.cpp's rope uses; Llama 3.1/3.2
  rope scaling becomes a `rope_freqs` tensor of per-frequency factors.
- `gemma3`: Gemma's RMSNorm scales by (1 + w), llama.cpp's by w, so every norm weight is stored as 1 + w;
  the sliding-window size and the local rope base are metadata.
- `phi3`: the fused qkv and gate_up projections are stored fused (`attn_qkv`, `ffn_up`); only the rotary
  width is Phi-specific (partial_rotary_factor).
- `qwen2` (biases on q/k/v) and `qwen3` (q/k RMSNorms, an explicit head_dim): renaming only.

Quantization follows llama.cpp's converter: 1-D tensors (norms, biases) stay F32; 2-D weights take the
chosen type, or F16 where a row is not a whole number of quantization blocks. For the 4- and 5-bit types
the token embedding and output head stay Q8_0 (llama-quantize keeps them at 6 bits: the gguf package has
no Python K-quant quantizer), which costs little size on small models and keeps the logits close.

    >>> write_gguf(merged_model, tokenizer, Path("export/model.gguf"), "q8_0", name="legal-sft")
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from antrenor.errors import AntrenorError
from antrenor.export.gguf_vocab import GgufVocab, gguf_vocab

GGUF_FILE = "model.gguf"
GGUF_TYPES = ("f32", "f16", "bf16", "q8_0", "q5_1", "q5_0", "q4_1", "q4_0")
SMALL_TYPES = {"q5_1", "q5_0", "q4_1", "q4_0"}  # embedding and output head kept at Q8_0


@dataclass(frozen=True)
class Architecture:
    gguf_name: str
    permute_qk: bool = False  # llama.cpp's `llama` graph expects rope pairs interleaved per head
    norm_shift: float = 0.0  # Gemma's RMSNorm multiplies by (1 + w): stored as 1 + w


ARCHITECTURES = {
    "llama": Architecture("llama", permute_qk=True),
    "mistral": Architecture("llama", permute_qk=True),
    "qwen2": Architecture("qwen2"),
    "qwen3": Architecture("qwen3"),
    "gemma3_text": Architecture("gemma3", norm_shift=1.0),
    "phi3": Architecture("phi3"),
}


def architecture_of(config: Any) -> Architecture:
    """The GGUF architecture for a transformers config; an error naming the supported ones otherwise."""
    found = ARCHITECTURES.get(getattr(config, "model_type", None))
    if found is None:
        raise AntrenorError(f"GGUF export does not support model type {config.model_type!r}",
                            problems=[f"supported: {', '.join(sorted(ARCHITECTURES))}",
                                      "export with format safetensors and convert with llama.cpp's convert_hf_to_gguf.py"])
    return found


def write_gguf(model: Any, tokenizer: Any, path: Path, gguf_type: str, name: str) -> dict[str, Any]:
    """Write `path`; returns what was written (architecture, type, tensor types, size, seconds)."""
    import gguf

    started = time.perf_counter()
    config = model.config
    arch = architecture_of(config)
    vocab = gguf_vocab(tokenizer, config.vocab_size)
    temporary = path.with_name(path.name + ".partial")
    writer = gguf.GGUFWriter(temporary, arch.gguf_name)
    try:
        write_hyperparameters(writer, config, arch, gguf_type, name)
        write_tokenizer(writer, vocab, getattr(tokenizer, "chat_template", None))
        counts: dict[str, int] = {}
        for tensor_name, data, qtype in gguf_tensors(model, arch, gguf_type):
            writer.add_tensor(tensor_name, data, raw_dtype=qtype)
            label = qtype.name if qtype is not None else ("F16" if data.dtype == np.float16 else "F32")
            counts[label] = counts.get(label, 0) + 1
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    except BaseException:
        writer.close()
        temporary.unlink(missing_ok=True)
        raise
    writer.close()
    temporary.replace(path)
    return {"file": path.name, "architecture": arch.gguf_name, "gguf_type": gguf_type, "tensor_types": counts,
            "size_mb": round(path.stat().st_size / 2**20, 1), "seconds": round(time.perf_counter() - started, 1)}


def write_hyperparameters(writer: Any, config: Any, arch: Architecture, gguf_type: str, name: str) -> None:
    import gguf

    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    writer.add_name(name)
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_file_type(_file_type(gguf_type))
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    writer.add_vocab_size(config.vocab_size)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(heads)
    writer.add_head_count_kv(getattr(config, "num_key_value_heads", None) or heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    if getattr(config, "head_dim", None) is not None:  # stated, as llama.cpp's converter writes it
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    rope = rope_parameters(config)
    writer.add_rope_freq_base(float(rope.get("rope_theta", 10000.0)))
    if arch.gguf_name == "llama":
        writer.add_rope_dimension_count(head_dim)
    if arch.gguf_name == "phi3":
        writer.add_rope_dimension_count(int(head_dim * getattr(config, "partial_rotary_factor", 1.0)))
        if getattr(config, "original_max_position_embeddings", None):
            writer.add_rope_scaling_orig_ctx_len(config.original_max_position_embeddings)
    if getattr(config, "sliding_window", None) and (arch.gguf_name == "gemma3" or getattr(config, "use_sliding_window", True)):
        writer.add_sliding_window(int(config.sliding_window))
    if arch.gguf_name == "gemma3":
        local = (getattr(config, "rope_parameters", None) or {}).get("sliding_attention") or {}
        if "rope_theta" in local:
            writer.add_rope_freq_base_swa(float(local["rope_theta"]))
        if getattr(config, "final_logit_softcapping", None):
            writer.add_final_logit_softcapping(config.final_logit_softcapping)
    kind = rope.get("rope_type", "default")
    if kind == "linear":
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(float(rope["factor"]))
    elif kind not in ("default", "llama3"):  # llama3: a rope_freqs tensor (gguf_tensors)
        raise AntrenorError(f"GGUF export does not write {kind!r} rope scaling yet",
                            problems=["convert with llama.cpp's convert_hf_to_gguf.py"])


def write_tokenizer(writer: Any, vocab: GgufVocab, chat_template: str | None) -> None:
    writer.add_tokenizer_model(vocab.model)
    if vocab.pre:
        writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(vocab.tokens)
    if vocab.scores is not None:
        writer.add_token_scores(vocab.scores)
    writer.add_token_types(vocab.types)
    if vocab.merges:
        writer.add_token_merges(vocab.merges)
    if vocab.add_space_prefix is not None:
        writer.add_add_space_prefix(vocab.add_space_prefix)
    handlers = {"bos": writer.add_bos_token_id, "eos": writer.add_eos_token_id, "eot": writer.add_eot_token_id,
                "unk": writer.add_unk_token_id, "pad": writer.add_pad_token_id}
    for key, token_id in vocab.special_ids.items():
        handlers[key](token_id)
    writer.add_add_bos_token(vocab.add_bos)
    writer.add_add_eos_token(vocab.add_eos)
    if chat_template:
        writer.add_chat_template(chat_template)


def gguf_tensors(model: Any, arch: Architecture, gguf_type: str):
    """(GGUF name, data, quantization type or None for plain F32/F16 arrays) for every weight."""
    import gguf

    config = model.config
    names = gguf.get_tensor_name_map(_model_arch(arch.gguf_name), config.num_hidden_layers)
    tied = bool(getattr(config, "tie_word_embeddings", False))
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    unmapped = []
    for hf_name, tensor in model.state_dict().items():
        if tied and hf_name == "lm_head.weight":
            continue  # llama.cpp reuses token_embd when there is no `output` tensor
        gguf_name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            unmapped.append(hf_name)
            continue
        data = tensor.detach().float().cpu()
        if arch.permute_qk and hf_name.endswith("self_attn.q_proj.weight"):
            data = _interleave_rope_rows(data, heads)
        elif arch.permute_qk and hf_name.endswith("self_attn.k_proj.weight"):
            data = _interleave_rope_rows(data, kv_heads)
        if arch.norm_shift and hf_name.endswith("norm.weight"):
            data = data + arch.norm_shift
        yield gguf_name, *_encoded(data.numpy(), gguf_name, gguf_type)
    if unmapped:
        raise AntrenorError(f"no GGUF name for {len(unmapped)} tensors: {', '.join(unmapped[:5])}",
                            problems=["the architecture differs from what llama.cpp supports for its model type"])
    factors = llama3_rope_factors(config)
    if factors is not None:
        yield gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.ROPE_FREQS] + ".weight", factors, None


def _interleave_rope_rows(weight: Any, heads: int) -> Any:
    """Per head, rows (x0..x{d/2-1}, y0..y{d/2-1}) -> (x0, y0, x1, y1, ...): rotate-half to interleaved pairs."""
    return (weight.reshape(heads, 2, weight.shape[0] // heads // 2, *weight.shape[1:])
            .swapaxes(1, 2).reshape(weight.shape))


def _encoded(data: np.ndarray, gguf_name: str, gguf_type: str) -> tuple[np.ndarray, Any]:
    import gguf

    Q = gguf.GGMLQuantizationType
    if data.ndim == 1 or gguf_type == "f32":
        return data.astype(np.float32), None
    if gguf_type == "f16":
        return data.astype(np.float16), None
    wanted = {"bf16": Q.BF16, "q8_0": Q.Q8_0, "q5_1": Q.Q5_1, "q5_0": Q.Q5_0, "q4_1": Q.Q4_1, "q4_0": Q.Q4_0}[gguf_type]
    if gguf_type in SMALL_TYPES and gguf_name.split(".")[0] in ("token_embd", "output"):
        wanted = Q.Q8_0
    block = gguf.GGML_QUANT_SIZES[wanted][0]
    if data.shape[-1] % block:
        return data.astype(np.float16), None  # as llama.cpp's converter does for rows that are not whole blocks
    return gguf.quants.quantize(data, wanted), wanted


def rope_parameters(config: Any) -> dict[str, Any]:
    """The (global-attention) rope parameters: transformers 5 nests them per layer type for Gemma 3."""
    rope = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    if "full_attention" in rope:
        rope = rope["full_attention"]
    found = dict(rope)
    if "rope_theta" not in found and getattr(config, "rope_theta", None) is not None:
        found["rope_theta"] = config.rope_theta
    return found


def llama3_rope_factors(config: Any) -> np.ndarray | None:
    """Llama 3.1/3.2 rope scaling as llama.cpp applies it: a divisor per rotary frequency (`rope_freqs`)."""
    rope = rope_parameters(config)
    if rope.get("rope_type") != "llama3":
        return None
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    base, factor = float(rope.get("rope_theta", 10000.0)), float(rope.get("factor", 8.0))
    low, high = float(rope.get("low_freq_factor", 1.0)), float(rope.get("high_freq_factor", 4.0))
    context = float(rope.get("original_max_position_embeddings", 8192))
    factors = []
    for index in range(0, head_dim, 2):
        wavelength = 2 * math.pi * base ** (index / head_dim)
        if wavelength < context / high:
            factors.append(1.0)
        elif wavelength > context / low:
            factors.append(factor)
        else:
            smooth = (context / wavelength - low) / (high - low)
            factors.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(factors, dtype=np.float32)


def _file_type(gguf_type: str) -> int:
    import gguf

    return int(gguf.LlamaFileType[{"f32": "ALL_F32", "f16": "MOSTLY_F16", "bf16": "MOSTLY_BF16"}.get(
        gguf_type, f"MOSTLY_{gguf_type.upper()}")])


def _model_arch(gguf_name: str) -> Any:
    import gguf

    return next(arch for arch, value in gguf.MODEL_ARCH_NAMES.items() if value == gguf_name)
