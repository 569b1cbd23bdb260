"""Loading models, safely: safetensors only and no remote code unless the config allows it.

`load_pretrained` loads any model (alias, folder, hub id) with a task head. The rest reads the folders
`antrenor train` writes: manifest.json says what a folder is (task, method, base model). An adapter is
loaded onto its base and, for LoRA, merged (inference then costs what the base costs). The base of an
adapter could also be had by disabling the adapter, but loading it separately keeps the two models
independent, so a report never mixes them up.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from antrenor.errors import AntrenorError, ConfigError
from antrenor.models.chat import (
    ensure_chat_template,
    saved_template_kwargs,
    with_template_kwargs,
)
from antrenor.models.registry import (
    ResolvedModel,
    check_model_name,
    load_tokenizer,
    resolve_model,
)

AUTO_CLASSES = {
    "causal-lm": "AutoModelForCausalLM",
    "sequence-classification": "AutoModelForSequenceClassification",
    "masked-lm": "AutoModelForMaskedLM",
}


def check_weights_are_safe(location: str, allow_pickle: bool) -> None:
    """Refuse a local folder holding only pickle (.bin/.pt) weights unless explicitly allowed."""
    folder = Path(location)
    if not folder.is_dir() or allow_pickle:
        return
    if any(folder.glob("*.safetensors")):
        return
    pickled = [p.name for p in folder.glob("*.bin")] + [p.name for p in folder.glob("*.pt")]
    if pickled:
        raise AntrenorError(
            f"{folder} holds only pickle weights ({', '.join(sorted(pickled)[:3])}): loading them can run arbitrary code",
            problems=["convert them to safetensors, or set allow_pickle: true if you trust their source"],
        )


def load_pretrained(name: str, head: str, *, trust_remote_code: bool = False, allow_pickle: bool = False,
                    **kwargs: Any) -> tuple[Any, ResolvedModel]:
    import transformers

    resolved = resolve_model(name)
    check_weights_are_safe(resolved.location, allow_pickle)
    auto_class = getattr(transformers, AUTO_CLASSES[head])
    try:
        model = auto_class.from_pretrained(resolved.location, trust_remote_code=trust_remote_code,
                                           use_safetensors=None if allow_pickle else True, **kwargs)
    except (OSError, ValueError) as exc:
        raise AntrenorError(
            f"could not load {name!r} as a {head} model",
            problems=[str(exc).splitlines()[0],
                      "offline? use a local folder or an embedded alias (smollm2-135m-instruct, minilm-l6)"],
        ) from None
    return model, resolved

HEADS = {"sft": "causal-lm", "clm": "causal-lm", "classification": "sequence-classification", "mlm": "masked-lm",
         "preference": "causal-lm", "rl": "causal-lm", "reward": "sequence-classification"}
@dataclass
class LoadedModel:
    label: str  # how reports name it: "base" or the folder's name
    source: str  # what the user gave
    role: str  # "base" or "tuned"
    task: str
    model: Any = field(repr=False)
    tokenizer: Any = field(repr=False)
    manifest: dict[str, Any] | None = None
    labels: dict[str, Any] | None = None  # problem_type, num_labels, id2label, label2id

    @property
    def is_adapter(self) -> bool:
        return Path(self.source, "adapter_config.json").is_file()


def read_manifest(source: str) -> dict[str, Any] | None:
    """A train manifest: the folder's own, or for output/checkpoints/checkpoint-N the run's."""
    path = run_file(Path(source), "manifest.json")
    return json.loads(path.read_text(encoding="utf-8")) if path else None


def run_file(folder: Path, name: str) -> Path | None:
    """`name` in a model folder, or in the run folder a checkpoint (output/checkpoints/checkpoint-N) belongs to."""
    for candidate in (folder, folder.parent.parent if folder.parent.name == "checkpoints" else None):
        if candidate is not None and (candidate / name).is_file():
            return candidate / name
    return None


def trained_from(manifest: dict[str, Any]) -> str:
    """The base named in a train manifest: as the user wrote it if that still resolves (an alias, a
    hub id, a folder that exists from here), else the resolved location recorded at training time."""
    name = manifest.get("base_model")
    if name and check_model_name(name) is None:
        return name
    return manifest.get("base_model_location") or name


def load_tuned(source: str, task: str, *, trust_remote_code: bool, allow_pickle: bool, bf16: bool) -> LoadedModel:
    """A tuned folder: full weights, or an adapter loaded onto its base (LoRA merged)."""
    folder = Path(source)
    manifest = read_manifest(source)
    labels = read_labels(folder)
    head = HEADS[task]
    kwargs = _load_kwargs(task, labels, bf16)
    is_adapter = (folder / "adapter_config.json").is_file()
    if is_adapter:
        if task == "reward":
            kwargs.setdefault("num_labels", 1)  # the adapter's base would otherwise load with two labels
        model = _load_adapter(folder, manifest, head, kwargs, trust_remote_code, allow_pickle)
    else:
        model, _ = load_pretrained(source, head, trust_remote_code=trust_remote_code, allow_pickle=allow_pickle, **kwargs)
    # an adapter saved without its tokenizer uses its base's; a hub id or alias resolves its own
    tokenizer_source = (adapter_base(folder, manifest) if is_adapter and not (folder / "tokenizer_config.json").is_file()
                        else source)
    tokenizer = load_tokenizer(tokenizer_source, trust_remote_code=trust_remote_code)
    restore_template_kwargs(tokenizer, manifest)
    if task == "reward":
        _check_reward_head(source, model, tokenizer)
    model.eval()
    return LoadedModel(folder.name if folder.is_dir() else source, source, "tuned", task, model, tokenizer, manifest, labels)


def restore_template_kwargs(tokenizer: Any, manifest: dict[str, Any] | None) -> None:
    """The chat template variables training rendered with (a train manifest's `chat_template_kwargs`), as the
    template's defaults: the saved tokenizer carries them already, a base's tokenizer (an adapter saved without its
    own) gets them here, so prompts are rendered as in training."""
    kwargs = (manifest or {}).get("chat_template_kwargs") or {}
    template = getattr(tokenizer, "chat_template", None)
    if kwargs and isinstance(template, str) and saved_template_kwargs(template) != kwargs:
        tokenizer.chat_template = with_template_kwargs(template, kwargs)


def load_judge(source: str, *, trust_remote_code: bool, allow_pickle: bool) -> LoadedModel:
    """A reward model that scores generated answers: a `train --task reward` folder (full or adapter, LoRA merged)
    or a hub id / HF folder of a sequence-classification model with one output. Full precision: its scores decide
    wins and ties, and a reward model is small next to the LMs it judges."""
    loaded = load_tuned(source, "reward", trust_remote_code=trust_remote_code, allow_pickle=allow_pickle, bf16=False)
    ensure_chat_template(loaded.tokenizer)  # as `train --task reward` did before training on the same rendering
    loaded.label, loaded.role = "judge", "judge"
    return loaded


def _check_reward_head(source: str, model: Any, tokenizer: Any) -> None:
    """One output, and a pad token id: a sequence classifier reads its score at the last non-pad token."""
    if model.config.num_labels != 1:
        raise ConfigError(f"{source} has {model.config.num_labels} outputs; a reward model has one",
                          problems=["train one with `antrenor train --task reward`, or give a one-output "
                                    "sequence-classification model"])
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id


def load_base(name: str, task: str, labels: dict[str, Any] | None, *, trust_remote_code: bool, allow_pickle: bool,
              bf16: bool) -> LoadedModel:
    """The base model. For classification its head is untrained; see `probe.py` for the fair baseline. For task
    reward only a base given by name is loaded (another reward model to compare with), read like a tuned folder."""
    if task == "reward":
        loaded = load_tuned(name, task, trust_remote_code=trust_remote_code, allow_pickle=allow_pickle, bf16=bf16)
        loaded.label, loaded.role = "base", "base"
        return loaded
    kwargs = _load_kwargs(task, labels, bf16)
    model, resolved = load_pretrained(name, HEADS[task], trust_remote_code=trust_remote_code, allow_pickle=allow_pickle,
                                      **kwargs)
    tokenizer = load_tokenizer(name, trust_remote_code=trust_remote_code)
    model.eval()
    return LoadedModel("base", name, "base", task, model, tokenizer, read_manifest(resolved.location), labels)


def _load_kwargs(task: str, labels: dict[str, Any] | None, bf16: bool) -> dict[str, Any]:
    import torch

    kwargs: dict[str, Any] = {}
    if task == "classification" and labels:
        kwargs.update({k: labels[k] for k in ("problem_type", "num_labels", "id2label", "label2id") if k in labels})
    if task == "reward" and labels:
        kwargs.update(labels)  # {"num_labels": 1} from a reward run's labels.json
    if HEADS[task] == "causal-lm" and bf16:
        kwargs["dtype"] = torch.bfloat16  # inference only: no fp32 master weights needed
    return kwargs


def read_labels(folder: Path) -> dict[str, Any] | None:
    path = run_file(folder, "labels.json")
    if path is None:
        return None
    labels = json.loads(path.read_text(encoding="utf-8"))
    if "id2label" in labels:
        labels["id2label"] = {int(k): v for k, v in labels["id2label"].items()}
    return labels


def adapter_base(folder: Path, manifest: dict[str, Any] | None) -> str:
    if manifest:
        return trained_from(manifest)
    config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    if not config.get("base_model_name_or_path"):
        raise AntrenorError(f"{folder} is an adapter that does not name its base model; give it with --base")
    return config["base_model_name_or_path"]


def _load_adapter(folder: Path, manifest, head: str, kwargs: dict[str, Any], trust_remote_code: bool,
                  allow_pickle: bool) -> Any:
    from peft import PeftModel

    base, _ = load_pretrained(adapter_base(folder, manifest), head, trust_remote_code=trust_remote_code,
                              allow_pickle=allow_pickle, **kwargs)
    model = PeftModel.from_pretrained(base, str(folder))
    if model.peft_config["default"].peft_type.value == "LORA":
        model = model.merge_and_unload()  # same outputs, base-model speed
    return model
