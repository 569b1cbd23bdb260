"""Methods: which parameters train. full, freeze, and the peft adapters lora/qlora/ia3/prompt.

LoRA targets every linear layer except the output head by default (peft's "all-linear"),
which is what QLoRA's authors found necessary to match full fine-tuning quality.
"""

from __future__ import annotations

from typing import Any

import torch

from antrenor.errors import ConfigError

PEFT_TASK_TYPES = {"causal-lm": "CAUSAL_LM", "sequence-classification": "SEQ_CLS", "masked-lm": None}
HEAD_NAMES = ("classifier", "score", "pooler", "lm_head", "cls.")


def apply_method(model: Any, cfg: Any, head: str) -> Any:
    """Return the model with only the method's parameters trainable."""
    if cfg.method == "full":
        for parameter in model.parameters():
            parameter.requires_grad = True
        return model
    if cfg.method == "freeze":
        freeze_all_but_top_layers(model, cfg.freeze.top_layers, cfg.freeze.modules, head)
        return model
    import peft

    task_type = PEFT_TASK_TYPES[head]
    if cfg.method in ("lora", "qlora"):
        adapter = peft.LoraConfig(
            r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
            target_modules=cfg.lora.target_modules or "all-linear", use_rslora=cfg.lora.rslora,
            use_dora=cfg.lora.dora, task_type=task_type,
        )
    elif cfg.method == "ia3":
        adapter = peft.IA3Config(task_type=task_type)
    elif cfg.method == "prompt":
        if task_type is None:
            raise ConfigError("prompt tuning needs a causal-lm or classification model")
        adapter = peft.PromptTuningConfig(task_type=task_type, num_virtual_tokens=cfg.prompt.virtual_tokens)
    else:
        raise ConfigError(f"unknown method {cfg.method}")
    try:
        return peft.get_peft_model(model, adapter)
    except ValueError as exc:
        raise ConfigError(f"peft cannot apply {cfg.method} to this model: {exc}",
                          problems=["set lora.target_modules to module names of this architecture"]) from None


def layer_stack(model: Any) -> tuple[str, torch.nn.ModuleList]:
    """The model's list of transformer blocks: the ModuleList holding the most parameters."""
    best: tuple[str, torch.nn.ModuleList] | None = None
    best_size = -1
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) > 1:
            size = sum(p.numel() for p in module.parameters())
            if size > best_size:
                best, best_size = (name, module), size
    if best is None:
        raise ConfigError("method freeze: cannot find the model's layer stack")
    return best


def freeze_all_but_top_layers(model: Any, top_layers: int, modules: list[str], head: str) -> None:
    for parameter in model.parameters():
        parameter.requires_grad = False
    stack_name, stack = layer_stack(model)
    trainable_prefixes = [f"{stack_name}.{i}." for i in range(len(stack) - top_layers, len(stack))] if top_layers else []
    heads = HEAD_NAMES if head != "causal-lm" else ("lm_head",)
    tied = {id(p) for p in model.get_input_embeddings().parameters()}
    for name, parameter in model.named_parameters():
        is_head = any(name.startswith(h) or f".{h}" in name for h in heads) and id(parameter) not in tied
        if any(name.startswith(p) for p in trainable_prefixes) or is_head or any(m in name for m in modules):
            parameter.requires_grad = True


def trainable_summary(model: Any) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
