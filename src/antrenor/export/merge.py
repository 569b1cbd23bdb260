"""Load a tuned folder for export and merge an adapter into its base, checked on sample inputs.

Merging (peft's `merge_and_unload`) folds W + (alpha/r)·B·A into W, so the served model has
the base model's speed and needs neither peft nor the base checkpoint. It is exact in float32
up to rounding; the check runs adapter + base and the merged model on the same inputs and
bounds the largest logit difference. Prompt and prefix tuning add virtual tokens instead of
changing weights, so there is nothing to merge: they are refused with the reason.

    >>> source = load_source("runs/demo/legal-sft/model")
    >>> merged, difference, allowed = merge_checked(source, sample_batches(source, data_folder, 8), tolerance=1e-3)
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from antrenor.errors import AntrenorError, ConfigError
from antrenor.models.loading import HEADS, adapter_base, load_pretrained, read_labels, read_manifest
from antrenor.models.registry import load_tokenizer

MERGEABLE = {"LORA", "IA3", "ADALORA", "LOHA", "LOKR"}


@dataclass
class ExportSource:
    folder: Path
    task: str
    model: Any = field(repr=False)  # fp32; a PeftModel for adapters
    tokenizer: Any = field(repr=False)
    manifest: dict[str, Any]
    labels: dict[str, Any] | None
    base_name: str | None  # the base an adapter was trained on
    adapter_type: str | None  # LORA, IA3, ... or None for full weights

    @property
    def head(self) -> str:
        return HEADS[self.task]


def load_source(folder: str | Path, *, trust_remote_code: bool = False, allow_pickle: bool = False) -> ExportSource:
    """A folder `antrenor train` wrote, in float32: full weights, or its base with the adapter on top."""
    import torch

    folder = Path(folder)
    manifest = read_manifest(str(folder))
    if manifest is None:
        raise ConfigError(f"{folder} is not an `antrenor train` output (no manifest.json)",
                          problems=["export the folder given as `output` to antrenor train"])
    task = manifest.get("task")
    if task not in HEADS:
        raise ConfigError(f"{folder}: its manifest names task {task!r}; export supports {', '.join(HEADS)}")
    labels = read_labels(folder)
    kwargs: dict[str, Any] = {"dtype": torch.float32}
    if task in ("classification", "reward") and labels:  # the head's size: an adapter's base must match it
        kwargs.update({k: labels[k] for k in ("problem_type", "num_labels", "id2label", "label2id") if k in labels})
    adapter_type, base_name = None, None
    if (folder / "adapter_config.json").is_file():
        from peft import PeftConfig, PeftModel

        adapter_type = PeftConfig.from_pretrained(str(folder)).peft_type.value
        base_name = adapter_base(folder, manifest)
        base, _ = load_pretrained(base_name, HEADS[task], trust_remote_code=trust_remote_code,
                                  allow_pickle=allow_pickle, **kwargs)
        model = PeftModel.from_pretrained(base, str(folder))
    else:
        model, _ = load_pretrained(str(folder), HEADS[task], trust_remote_code=trust_remote_code,
                                   allow_pickle=allow_pickle, **kwargs)
    tokenizer_source = str(folder) if (folder / "tokenizer_config.json").is_file() else base_name
    tokenizer = load_tokenizer(tokenizer_source, trust_remote_code=trust_remote_code)
    model.eval()
    return ExportSource(folder, task, model, tokenizer, manifest, labels, base_name, adapter_type)


def merge_checked(source: ExportSource, batches: list[dict[str, Any]],
                  tolerance: float) -> tuple[Any, float | None, float | None]:
    """(plain transformers model, largest |logit difference| merged vs adapter + base, the difference allowed);
    both None when nothing was merged."""
    if source.adapter_type is None:
        return source.model, None, None
    if source.adapter_type not in MERGEABLE:
        raise AntrenorError(
            f"{source.folder} is a {source.adapter_type} adapter: it adds virtual tokens rather than changing weights, "
            "so it cannot be merged into the base",
            problems=["serve it as an adapter (transformers + peft load the folder directly)",
                      "or train with method lora/ia3/full to get a mergeable model"])
    before = logits_of(source.model, batches)
    merged = copy.deepcopy(source.model).merge_and_unload()
    difference = max_logit_difference(before, logits_of(merged, batches), batches)
    allowed = tolerance * logit_scale(before)
    if difference > allowed:
        raise AntrenorError(f"the merged model differs from adapter + base by {difference:.3g} (allowed {allowed:.3g}: "
                            f"merge_tolerance {tolerance:g} x the largest |logit|)",
                            problems=["raise merge_tolerance only if you know why; a large gap means the merge is wrong"])
    return merged, difference, allowed


def logit_scale(logits: list[Any]) -> float:
    """max(1, largest |logit|): float32 rounding grows with the logits' size. Gemma 3's reach ~40 (its embeddings
    are scaled by sqrt(width)), and a correct float32 merge differs from adapter + base by 3e-3 there, where
    SmolLM2's differs by 1e-4; a wrong merge (scaling, targets) moves logits by a sizeable share of their range."""
    return max(1.0, max((float(x.abs().max()) for x in logits), default=1.0))


def logits_of(model: Any, batches: list[dict[str, Any]]) -> list[Any]:
    import torch

    with torch.inference_mode():
        return [model(**batch).logits.float() for batch in batches]


def max_logit_difference(a: list[Any], b: list[Any], batches: list[dict[str, Any]]) -> float:
    """Largest |a - b| over the positions that hold real tokens (padding positions are not compared)."""
    worst = 0.0
    for left, right, batch in zip(a, b, batches):
        gap = (left - right).abs()
        if gap.dim() == 3:  # per-token logits: mask out padding positions
            gap = gap * batch["attention_mask"].unsqueeze(-1)
        worst = max(worst, float(gap.max()))
    return worst
