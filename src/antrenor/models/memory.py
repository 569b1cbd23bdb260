"""How much memory fine-tuning (and then serving) a model takes, before loading it.

The estimate predicts the peak resident memory (RSS) of an `antrenor train` process, so it counts
what antrenor's training code actually allocates (training/model_setup.py, adapters.py, qlora.py):

    peak = framework + weights + gradients + optimizer + activations + allocator

- framework: Python, torch, transformers, peft, the tokenizer, the data and the Trainer before the
  model loads; a constant measured on this project's runs (the imports alone take 520 MB).
- weights: parameters P in fp32 (4 B) when they train (full; and every classification model). A
  LoRA causal LM keeps its frozen base in bf16 (2 B) and the adapters in fp32. QLoRA stores the
  transformer blocks' linear weights in NF4 with double quantization, 0.5 + 1/64 + 4/16384 =
  0.516 B/param, and unpacks one matrix at a time to fp32 for its matmul; embeddings, norms and
  the head stay fp32. Under bf16 autocast every fp32 linear
  weight also gets a bf16 copy (2 B) that lives until the backward pass has used it.
- gradients: 4 B per trainable parameter (fp32, like the weights that train).
- optimizer: AdamW's two fp32 moments, 8 B per trainable parameter (torch's fused AdamW, no
  temporary copies).
- activations: the tensors saved for the backward pass, counted per layer and token (h hidden size,
  i intermediate size, a heads, kv key/value heads, d head size, s sequence length, r LoRA rank;
  bytes, bf16 autocast):
    decoder, full (fp32 residual):   24h + 6ad + 4kv.d + 8i + 4a
    decoder, LoRA (bf16 base):       18h + 6ad + 4kv.d + 8i + 4a + 14r
    encoder (BERT, dropout on):      34h + 4i + 4a + 12a.s   (+12r with LoRA)
  The encoder's 12a.s is the attention matrix: with attention dropout, PyTorch's CPU attention
  takes the math path and keeps the scores; decoders use flash attention, which keeps none. A
  gated MLP (SwiGLU) counts 8i, a plain one 4i. Without bf16 (and with QLoRA, which computes in
  fp32) the 2-byte tensors become 4-byte ones. Gradient checkpointing keeps only each layer's
  input (4h or 2h bytes) plus one layer recomputed during the backward pass. Around the layers:
  the final norm, and the output head's logits for the tokens that carry a label, 14 bytes per
  vocabulary entry (the fp32 log-probabilities kept for the backward pass and the gradients the
  backward pass makes from them; antrenor computes logits for labelled positions only).
  The counts equal what torch's saved-tensor hooks report on random models (a unit test checks).
- allocator: what the C heap keeps beyond the live tensors. glibc raises its mmap threshold after
  the first large free (up to 32 MB), so the layers' tensors of a few MB come from the heap, and
  freed ones (peft's fp32 input copies, layers recomputed under checkpointing) stay in RSS. With
  a fixed threshold (`MALLOC_MMAP_THRESHOLD_=131072`) the slack disappears: a LoRA step of
  SmolLM2 on one 1024-token row grew RSS by 1.70 GB, and by 0.90 GB, the saved tensors' size, with
  the fixed threshold (with checkpointing: 0.60 GB and 0.15 GB). Measured on the embedded models
  (docs/benchmarks.md, "memory estimate"): 0.3 x the layers' per-token activations of a run
  without checkpointing for LoRA, and 0.8 x for QLoRA, which still makes peft's fp32 input copies
  (LoRA under bf16 autocast no longer does: training/trainer.py); 0.1 x for full fine-tuning, whose gradients, freed
  at each step, leave holes the size of the weights that the next forward pass fills. The large
  blocks (logits, an encoder's attention matrices) left no slack.

Inference (serving the tuned model, bf16 when the CPU supports it):

    peak = framework + weights + KV cache + activations
    KV cache = 2 (K and V) x layers x kv x d x sequence x batch x 2 B   (causal LMs only)

Not counted: evaluation during training, dataloader workers, several processes (DDP) and the oneDNN
kernel caches that grow with every new sequence length (bounded by kernel_caches.py; a long run
over varied lengths peaks higher than a few steps of one length).

Example (works offline: the registry stores every entry's architecture numbers):

    >>> from antrenor.models.memory import estimate_memory, format_bytes
    >>> estimate = estimate_memory("qwen2.5-0.5b-instruct", method="lora", seq_len=512, batch_size=1)
    >>> format_bytes(estimate.training.total)  # doctest: +SKIP
    '3.43 GB'
    >>> estimate.training.parts()  # bytes per component; estimate.notes says how each was counted  # doctest: +SKIP
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from antrenor.errors import AntrenorError, ConfigError
from antrenor.models.registry import (
    REGISTRY,
    Architecture,
    check_model_name,
    entry_for,
    gemma3_vision_parameters,
)

MB = 1024**2
GB = 1024**3
METHODS = ("full", "lora", "qlora")
TASK_ARCHITECTURES = {"sft": ("causal-lm",), "clm": ("causal-lm",), "mlm": ("encoder",),
                      "classification": ("encoder", "causal-lm")}
DEFAULT_SEQ_LEN = {"sft": 512, "clm": 512, "classification": 256, "mlm": 256}
DEFAULT_BATCH = {"sft": 1, "clm": 1, "classification": 8, "mlm": 8}  # antrenor's CPU micro-batch defaults
# Share of tokens that carry a label, so get logits: sft trains on the answers (assumed half the
# tokens; the demo data has a fifth), clm on every token; an MLM head scores every position.
LABELLED_SHARE = {"sft": 0.5, "clm": 1.0, "mlm": 1.0, "classification": 0.0}
NF4_BYTES_PER_PARAMETER = 0.5 + 1 / 64 + 4 / (64 * 256)  # 4-bit codes, 8-bit absmax per 64, fp32 per 256 blocks
LOGIT_BYTES = 14  # per labelled token and vocabulary entry: fp32 log-probs kept (4) + backward's gradients (4+4+2)
# Measured (benchmarks/memory_estimate_bench.py, docs/benchmarks.md): the process before the model
# loads, and what the heap holds beyond the saved tensors.
TRAIN_FRAMEWORK_BYTES = 600 * MB
INFERENCE_FRAMEWORK_BYTES = 450 * MB
HEAP_SLACK = {"full": 0.1, "lora": 0.3, "qlora": 0.8}  # x activations saved without checkpointing


@dataclass(frozen=True)
class MemoryBreakdown:
    """Bytes per component of one phase's peak; `total` is their sum."""

    weights: int
    gradients: int = 0
    optimizer: int = 0
    activations: int = 0
    kv_cache: int = 0
    allocator: int = 0  # freed memory the C heap keeps
    framework: int = 0  # the process before the model loads

    @property
    def total(self) -> int:
        return sum(self.parts().values())

    def parts(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class MemoryEstimate:
    model: str
    architecture: str  # causal-lm or encoder
    task: str
    method: str
    seq_len: int
    batch_size: int
    gradient_checkpointing: bool
    bf16: bool
    parameters: int
    trainable_parameters: int
    training: MemoryBreakdown
    inference: MemoryBreakdown
    source: str  # where the architecture numbers came from
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for phase in ("training", "inference"):
            data[phase]["total"] = getattr(self, phase).total
        return data


# --- sizes --------------------------------------------------------------------------------------

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]I?B?|B)?\s*$", re.IGNORECASE)


def parse_memory(text: str | int | float) -> int:
    """'16GB', '16 GiB', '512MB', '1.5T' -> bytes (binary units, as `free -h` shows them); a bare number is GB."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return int(text * GB)
    match = _SIZE.match(str(text))
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(f"cannot read memory size {text!r}: give a positive number with a unit, e.g. 16GB, 512MB or 1.5TB")
    unit = (match.group(2) or "G").upper()[0]
    scale = {"B": 1, "K": 1024, "M": MB, "G": GB, "T": 1024**4}[unit]
    return int(float(match.group(1)) * scale)


def format_bytes(size: float) -> str:
    return f"{size / GB:.2f} GB" if size >= GB else f"{size / MB:.0f} MB"


# --- parameters ---------------------------------------------------------------------------------


def layer_linears(arch: Architecture, kind: str) -> list[tuple[int, int]]:
    """(in, out) of the linear layers in one transformer block."""
    h, i, d = arch.hidden_size, arch.intermediate_size, arch.attention_head_dim
    if kind == "encoder":
        return [(h, h)] * 4 + [(h, i), (i, h)]
    attention = [(h, arch.heads * d), (h, arch.kv_heads * d), (h, arch.kv_heads * d), (arch.heads * d, h)]
    mlp = [(h, i), (h, i), (i, h)] if arch.gated_mlp else [(h, i), (i, h)]
    return attention + mlp


def head_linears(arch: Architecture, kind: str, task: str,
                 num_labels: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Linear layers outside the blocks: (LoRA targets, output layers that LoRA leaves alone)."""
    h, vocab = arch.hidden_size, arch.vocab_size
    if task == "classification":
        return ([(h, h)], [(h, num_labels)]) if kind == "encoder" else ([], [(h, num_labels)])  # pooler / score
    if kind == "encoder":
        return [(h, h)], [(h, vocab)]  # MLM head: transform dense, then the decoder tied to the embeddings
    return [], [(h, vocab)]


def count_parameters(arch: Architecture, kind: str, task: str = "sft", num_labels: int = 2) -> int:
    h, vocab, layers = arch.hidden_size, arch.vocab_size, arch.layers
    block = sum(a * b for a, b in layer_linears(arch, kind))
    targets, outputs = head_linears(arch, kind, task, num_labels)
    if kind == "encoder":
        block += 5 * h + arch.intermediate_size + 4 * h  # biases (q, k, v, o, in, out) and two LayerNorms
        embeddings = (vocab + arch.positions + 2) * h + 2 * h
        head = sum(a * b + b for a, b in targets)
        head += num_labels * (h + 1) if task == "classification" else 2 * h + vocab  # classifier / MLM norm + bias
        return embeddings + layers * block + head
    block += 2 * h  # two RMSNorms
    head = sum(a * b for a, b in outputs) if task == "classification" or not arch.tied_embeddings else 0
    return vocab * h + layers * block + h + head + arch.extra_parameters


def linear_parameters(arch: Architecture, kind: str, task: str, num_labels: int = 2) -> tuple[int, int]:
    """(weights of the blocks' linear layers, weights of the other linear layers incl. the output head)."""
    blocks = arch.layers * sum(a * b for a, b in layer_linears(arch, kind))
    targets, outputs = head_linears(arch, kind, task, num_labels)
    return blocks, sum(a * b for a, b in targets + outputs)


def lora_parameters(arch: Architecture, kind: str, task: str, r: int, num_labels: int = 2) -> int:
    """Trainable parameters of LoRA on every linear layer but the output head (peft's "all-linear"),
    plus the classification head, which peft trains in full (modules_to_save)."""
    targets, outputs = head_linears(arch, kind, task, num_labels)
    adapters = arch.layers * sum(r * (a + b) for a, b in layer_linears(arch, kind)) + sum(r * (a + b) for a, b in targets)
    if task == "classification":
        adapters += sum(a * b + (b if kind == "encoder" else 0) for a, b in outputs)
    return adapters


# --- activations --------------------------------------------------------------------------------


def layer_activation_bytes(arch: Architecture, kind: str, method: str, seq_len: int, *, bf16: bool = True,
                           lora_r: int = 16) -> float:
    """Bytes one transformer block saves for the backward pass, per token (the formulas in the module docstring)."""
    h, i, a, kv, d = arch.hidden_size, arch.intermediate_size, arch.heads, arch.kv_heads, arch.attention_head_dim
    e = 2 if bf16 and method != "qlora" else 4  # bytes of a matmul input or output
    adapters = method in ("lora", "qlora")
    if kind == "encoder":
        saved = 34 * h + 4 * i + 4 * a + (6 * 2 * lora_r if adapters else 0)
        return (saved if e == 2 else saved * 1.6) + attention_score_bytes(arch, kind, seq_len, bf16=e == 2)
    mlp = 4 * i if arch.gated_mlp else 2 * i
    if adapters:
        h_inputs = 5 if arch.gated_mlp else 4  # adapters reading the hidden state: q, k, v (+ gate, up | fc1)
        fp32_norms = 8 * h  # each RMSNorm keeps its fp32 input
        n_adapters = len(layer_linears(arch, kind))
        return fp32_norms + e * (h_inputs * h + 3 * a * d + 2 * kv * d + mlp + n_adapters * lora_r) + 4 * a
    fp32_norms = 16 * h  # input and normalized output of two RMSNorms that train
    return fp32_norms + e * (4 * h + 3 * a * d + 2 * kv * d + mlp) + 4 * a


def attention_score_bytes(arch: Architecture, kind: str, seq_len: int, *, bf16: bool = True) -> float:
    """Per token and layer, what an encoder's attention keeps of its score matrix (math path, with dropout)."""
    if kind != "encoder":
        return 0.0  # flash attention keeps only a log-sum-exp per head (the 4a of the formulas)
    per_score = 12 if bf16 else 12 * 1.6  # fp32 without autocast: not measured
    return per_score * arch.heads * seq_len


def activation_bytes(arch: Architecture, kind: str, task: str, method: str, seq_len: int, batch_size: int, *,
                     bf16: bool = True, lora_r: int = 16, gradient_checkpointing: bool = False,
                     labelled_share: float | None = None, frozen_bf16_base: bool = False) -> float:
    """Bytes saved for the backward pass over one micro-batch."""
    tokens = seq_len * batch_size
    per_layer = layer_activation_bytes(arch, kind, method, seq_len, bf16=bf16, lora_r=lora_r)
    h = arch.hidden_size
    if gradient_checkpointing:
        residual = 2 if frozen_bf16_base else 4
        layers = arch.layers * residual * h + per_layer  # every layer's input, and one layer recomputed
    else:
        layers = arch.layers * per_layer
    around = 10 * h  # embeddings and the final norm
    return tokens * (layers + around) + logit_bytes(arch, task, seq_len, batch_size, labelled_share)


def logit_bytes(arch: Architecture, task: str, seq_len: int, batch_size: int, labelled_share: float | None = None) -> float:
    """The output head's share of the activations: logits of the labelled tokens, and their gradients."""
    share = LABELLED_SHARE[task] if labelled_share is None else labelled_share
    return seq_len * batch_size * share * (LOGIT_BYTES * arch.vocab_size + 2 * arch.hidden_size)


# --- the estimate -------------------------------------------------------------------------------


def estimate(arch: Architecture, kind: str, *, task: str, method: str, seq_len: int, batch_size: int = 1,
             lora_r: int | None = None, gradient_checkpointing: bool = False, bf16: bool = True, num_labels: int = 2,
             labelled_share: float | None = None, model: str = "", source: str = "") -> MemoryEstimate:
    """The training and inference peaks of `arch` (a pure function: nothing is loaded)."""
    problems = check_request(kind, task, method, seq_len, batch_size)
    if problems:
        raise ConfigError("cannot estimate memory:", problems=problems)
    r = lora_r or default_lora_rank()
    params = count_parameters(arch, kind, task, num_labels)
    autocast = bf16 and method != "qlora"  # antrenor trains QLoRA without bf16 autocast (training/precision.py)
    frozen_bf16_base = method == "lora" and kind == "causal-lm" and task != "classification" and autocast
    trainable = params if method == "full" else lora_parameters(arch, kind, task, r, num_labels)
    weights, weights_note = training_weights(arch, kind, task, method, params, trainable, autocast, frozen_bf16_base,
                                             num_labels)
    notes = ([f"architecture: {source}"] if source else []) + [weights_note]
    saved, unsaved = (activation_bytes(arch, kind, task, method, seq_len, batch_size, bf16=autocast, lora_r=r,
                                       gradient_checkpointing=checkpointing, labelled_share=labelled_share,
                                       frozen_bf16_base=frozen_bf16_base)
                      for checkpointing in (gradient_checkpointing, False))
    attention = "the attention matrix is kept (math path)" if kind == "encoder" else "flash attention keeps no seq² term"
    notes.append(f"activations: {arch.layers} layers x {seq_len} tokens x micro-batch {batch_size}, "
                 f"{'gradient checkpointing' if gradient_checkpointing else 'no checkpointing'}, {attention}")
    # Only the layers' per-token tensors leave slack: the logits and an encoder's attention matrices,
    # blocks of tens of MB, left none in the measurements.
    large_blocks = (logit_bytes(arch, task, seq_len, batch_size, labelled_share)
                    + arch.layers * seq_len * batch_size * attention_score_bytes(arch, kind, seq_len, bf16=autocast))
    slack = HEAP_SLACK[method] * (unsaved - large_blocks)
    notes.append(f"allocator: {HEAP_SLACK[method]:g} x the layers' activations without checkpointing, which the C heap "
                 "keeps after freeing (measured)")
    training = MemoryBreakdown(weights=int(weights), gradients=4 * trainable, optimizer=8 * trainable,
                               activations=int(saved), allocator=int(slack), framework=TRAIN_FRAMEWORK_BYTES)
    inference = inference_memory(arch, kind, params, seq_len, batch_size, bf16)
    return MemoryEstimate(model or "(architecture)", kind, task, method, seq_len, batch_size, gradient_checkpointing,
                          autocast, params, trainable, training, inference, source, notes)


def training_weights(arch: Architecture, kind: str, task: str, method: str, params: int, trainable: int, autocast: bool,
                     frozen_bf16_base: bool, num_labels: int = 2) -> tuple[int, str]:
    """Bytes of the weights as antrenor loads them for `method`, and a note saying how."""
    block_linears, other_linears = linear_parameters(arch, kind, task, num_labels)
    copies = 2 * (block_linears + other_linears) if autocast else 0  # autocast's bf16 copy of each fp32 linear weight
    if method == "full":
        note = f"weights: {params / 1e6:,.1f}M parameters in fp32"
        return 4 * params + copies, note + (", plus the bf16 copies autocast makes of the linear weights" if copies else "")
    adapters = (6 if autocast else 4) * trainable  # fp32, and autocast's bf16 copy
    if method == "qlora":
        quantized = block_linears * NF4_BYTES_PER_PARAMETER
        unpacked = 4 * max(a * b for a, b in layer_linears(arch, kind))  # bitsandbytes unpacks one matrix at a time
        return (int(quantized + 4 * (params - block_linears)) + unpacked + adapters,
                f"weights: {block_linears / 1e6:,.1f}M block weights in 4-bit NF4, the other "
                f"{(params - block_linears) / 1e6:,.1f}M in fp32; adapters {trainable / 1e6:,.2f}M in fp32")
    if frozen_bf16_base:
        return (2 * params + adapters,
                f"weights: frozen base of {params / 1e6:,.1f}M in bf16, adapters {trainable / 1e6:,.2f}M in fp32")
    return (4 * params + adapters + copies,
            f"weights: {params / 1e6:,.1f}M in fp32 (a {task} model loads fp32), adapters {trainable / 1e6:,.2f}M"
            + (", plus autocast's bf16 copies of the linear weights" if copies else ""))


def inference_memory(arch: Architecture, kind: str, params: int, seq_len: int, batch_size: int,
                     bf16: bool) -> MemoryBreakdown:
    """Serving the tuned model (adapters merged): weights, KV cache, one forward pass's working set."""
    e = 2 if bf16 else 4
    tokens = seq_len * batch_size
    working = tokens * e * (4 * arch.hidden_size + 2 * arch.intermediate_size)
    if kind == "causal-lm":
        kv_cache = 2 * arch.layers * arch.kv_heads * arch.attention_head_dim * tokens * e
        working += batch_size * arch.vocab_size * 4  # logits of the last position
    else:
        kv_cache = 0
        working += batch_size * arch.heads * seq_len * seq_len * 4  # one layer's attention scores
    return MemoryBreakdown(weights=e * params, kv_cache=kv_cache, activations=working, framework=INFERENCE_FRAMEWORK_BYTES)


def check_request(kind: str, task: str, method: str, seq_len: int, batch_size: int) -> list[str]:
    problems = []
    if task not in TASK_ARCHITECTURES:
        problems.append(f"unknown task {task!r}: use one of {', '.join(TASK_ARCHITECTURES)}")
    elif kind not in TASK_ARCHITECTURES[task]:
        needed = " or ".join(TASK_ARCHITECTURES[task])
        problems.append(f"task {task} needs a {needed} model; this one is {kind}")
    if method not in METHODS:
        problems.append(f"unknown method {method!r}: estimates cover {', '.join(METHODS)}")
    elif method == "qlora" and task == "mlm":
        problems.append("method qlora is not supported for mlm (see antrenor train)")
    if seq_len < 1:
        problems.append(f"seq_len must be at least 1, not {seq_len}")
    if batch_size < 1:
        problems.append(f"batch_size must be at least 1, not {batch_size}")
    return problems


DEFAULT_LORA_RANK = 16  # the train config's lora.r default reads this: one value for estimate and training


def default_lora_rank() -> int:
    return DEFAULT_LORA_RANK


def estimate_memory(model: str, *, task: str | None = None, method: str = "lora", seq_len: int | None = None,
                    batch_size: int | None = None, lora_r: int | None = None, gradient_checkpointing: bool = False,
                    bf16: bool = True, num_labels: int = 2, labelled_share: float | None = None) -> MemoryEstimate:
    """Estimate training and inference memory for a registry alias, local folder or hub id.

    task defaults to sft for causal LMs and classification for encoders; seq_len and batch_size to
    DEFAULT_SEQ_LEN / DEFAULT_BATCH for the task; lora_r to the train config's default.
    """
    kind, arch, source = read_architecture(model)
    task = task or ("sft" if kind == "causal-lm" else "classification")
    return estimate(arch, kind, task=task, method=method,
                    seq_len=DEFAULT_SEQ_LEN.get(task, 512) if seq_len is None else seq_len,
                    batch_size=DEFAULT_BATCH.get(task, 1) if batch_size is None else batch_size, lora_r=lora_r,
                    gradient_checkpointing=gradient_checkpointing, bf16=bf16, num_labels=num_labels,
                    labelled_share=labelled_share, model=model, source=source)


# --- architecture numbers -----------------------------------------------------------------------


def read_architecture(name: str) -> tuple[str, Architecture, str]:
    """(kind, numbers, where they came from) for an alias, local folder or hub id.

    Embedded aliases and local folders: their config.json. Other registry entries: the stored
    numbers (offline). Other hub ids: transformers.AutoConfig, which needs the network once.
    """
    entry = entry_for(name)
    unavailable = ""
    if entry is not None and entry.local_folder is not None:
        try:
            folder = entry.local_folder()
        except AntrenorError as error:  # e.g. the embedded package is not installed: the stored numbers still serve
            unavailable = f"; its embedded folder is unavailable: {error.message}"
        else:
            kind, arch = architecture_from_config(_read_config_file(folder / "config.json"))
            return entry.architecture, arch, f"config.json of {folder}"
    if entry is not None and entry.arch is not None:
        return entry.architecture, entry.arch, f"registry entry {entry.alias} ({entry.hub_id}){unavailable}"
    if Path(name).is_dir():
        kind, arch = architecture_from_config(_read_config_file(Path(name) / "config.json"))
        return kind, arch, f"config.json of {name}"
    problem = check_model_name(name)
    if problem:
        raise ConfigError(problem)
    return (*architecture_from_config(_hub_config(name)), f"hub config of {name}")


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path.parent} has no config.json: give a model folder (or a registry alias)") from None
    except ValueError as error:
        raise ConfigError(f"{path} is not valid JSON: {error}") from None


def _hub_config(name: str) -> dict[str, Any]:
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(name).to_dict()
    except (OSError, ValueError) as error:
        raise AntrenorError(
            f"could not read the config of {name!r}",
            problems=[str(error).splitlines()[0],
                      "offline? download the model folder once and pass its path, or use a registry alias ("
                      + ", ".join(REGISTRY) + ")"],
        ) from None


ENCODER_TYPES = {"bert", "roberta", "xlm-roberta", "distilbert", "electra", "camembert", "deberta", "deberta-v2",
                 "mpnet", "albert", "modernbert", "xlm"}
PLAIN_MLP_DECODERS = {"gpt2", "gpt_neo", "gpt_neox", "gptj", "opt", "bloom", "falcon", "phi", "codegen", "mpt", "starcoder2"}
DECODER_TYPES = {"llama", "mistral", "mixtral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "phi3", "olmo", "olmo2",
                 "granite", "smollm3", "stablelm", "cohere"} | PLAIN_MLP_DECODERS
_KEYS = {
    "hidden_size": ("hidden_size", "n_embd", "d_model", "dim"),
    "layers": ("num_hidden_layers", "n_layer", "num_layers", "n_layers"),
    "heads": ("num_attention_heads", "n_head", "num_heads", "n_heads"),
    "vocab_size": ("vocab_size",),
}


def architecture_from_config(config: dict[str, Any]) -> tuple[str, Architecture]:
    """(kind, numbers) from a config.json dict; ConfigError names the keys it could not find."""
    extra = 0
    if config.get("model_type") == "gemma3" and config.get("vision_config") and config.get("text_config"):
        extra = gemma3_vision_parameters(config["vision_config"], config["text_config"]["hidden_size"])
    config = config.get("text_config") or config  # multimodal wrappers keep the language model's numbers here
    found = {name: next((config[k] for k in keys if config.get(k) is not None), None) for name, keys in _KEYS.items()}
    missing = [keys[0] for name, keys in _KEYS.items() if found[name] is None]
    if missing:
        raise ConfigError(f"the model's config lacks {', '.join(missing)}: cannot estimate its memory")
    model_type = str(config.get("model_type", "")).lower()
    architectures = " ".join(config.get("architectures") or [])
    if (model_type in DECODER_TYPES or config.get("is_decoder")
            or any(word in architectures for word in ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration"))):
        kind = "causal-lm"
    elif model_type in ENCODER_TYPES or "ForMaskedLM" in architectures or "BertModel" in architectures:
        kind = "encoder"
    else:
        raise ConfigError(f"cannot tell whether model type {model_type or '(none)'} is a causal LM or an encoder")
    hidden = int(found["hidden_size"])
    heads = int(found["heads"])
    intermediate = next((config[k] for k in ("intermediate_size", "n_inner", "ffn_dim") if config.get(k)), 4 * hidden)
    arch = Architecture(
        hidden_size=hidden, layers=int(found["layers"]), heads=heads,
        kv_heads=int(config.get("num_key_value_heads") or heads), intermediate_size=int(intermediate),
        vocab_size=int(found["vocab_size"]),
        head_dim=config.get("head_dim") if config.get("head_dim") != hidden // heads else None,
        tied_embeddings=bool(config.get("tie_word_embeddings", True)),
        positions=int(config.get("max_position_embeddings") or 0) if kind == "encoder" else 0,
        gated_mlp=kind == "causal-lm" and model_type not in PLAIN_MLP_DECODERS,
        extra_parameters=extra,
    )
    return kind, arch
