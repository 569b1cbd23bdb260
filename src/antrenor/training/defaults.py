"""Defaults that win without the user's help: the method, learning rate, epochs, validation split and early
stopping that antrenor chooses when the config leaves them out (any key set in YAML or with --set is kept).

The rule (measurements in docs/benchmarks.md, "Chosen defaults"):
- method: small encoders trained as classifiers (up to 350M parameters) are fully fine-tuned: their whole body
  adapts to the task in minutes, where LoRA's few parameters lost to a linear probe on the frozen encoder
  (Romanian reviews: LoRA 86.9 % against the probe's 95.0 %). Everything else trains LoRA adapters (masked-LM
  continued pre-training included: full fine-tuning there is not measured yet).
- learning rate, by method and size: classifiers fully fine-tuned get 1e-4 under 50M parameters (compact
  encoders take larger steps), 5e-5 under 200M, 2e-5 above (the usual 1e-5..5e-5); LoRA 3e-4 up to 1B
  parameters, 2e-4 up to 10B, 1e-4 above; other methods and tasks their usual rate (full 2e-5).
- epochs, by the amount of data: 5 under 10,000 training examples, else 3; validation stops training early
  and the best checkpoint is kept, so a generous epoch count costs only time (MiniLM on 1,079 legal articles:
  74.8 % after 5 epochs against 70.4 % after 3, its validation accuracy still rising at 3).
- validation: when the data has no validation split, 10 % of the training records (at least 16, at most 300;
  stratified by label for classification) are held out of training to decide when to stop and which
  checkpoint to keep; the test split is never touched.
- early stopping: evaluate twice per epoch, stop after 3 evaluations without improvement, keep the best on the
  task's validation metric (accuracy for classification, the validation loss otherwise).
- the new classification head starts from a linear probe on the frozen model (`head_init: probe`, in
  training/classify.py; a TrainConfig default, not chosen here): on the nine legal codes it lifted the same
  run from 74.8 % to 82.2 % (probe 70.0 %), on criminal-vs-civil law from 90.0 % to 92.5 % (probe 89.2 %).
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from typing import Any

from antrenor.training.config import TRL_TASKS, TrainConfig
from antrenor.training.data import PreparedData

FULL_FINE_TUNING_UP_TO = 350  # million parameters: encoders at most this big are fully fine-tuned
VALIDATION_SHARE, VALIDATION_MIN, VALIDATION_MAX = 0.10, 16, 300
EVALUATIONS_PER_EPOCH, PATIENCE = 2, 3


def model_size_millions(cfg: TrainConfig) -> tuple[float | None, str | None]:
    """Parameters (millions) and architecture kind ("causal-lm" or "encoder") from the registry or config.json,
    without loading weights; (None, None) when they cannot be read (e.g. a hub id while offline)."""
    from antrenor.models.memory import count_parameters, read_architecture

    try:
        kind, architecture, _ = read_architecture(cfg.model)
    except Exception:  # noqa: BLE001 - any failure means "size unknown": the method defaults stay as they were
        return None, None
    return count_parameters(architecture, kind, cfg.task) / 1e6, kind


def choose_method(task: str, params: float | None, kind: str | None) -> tuple[str, str]:
    if task == "classification" and kind == "encoder" and params is not None and params <= FULL_FINE_TUNING_UP_TO:
        return "full", f"a {params:.0f}M-parameter encoder: full fine-tuning adapts its whole body to the task"
    return "lora", "LoRA adapters on every linear layer"


def choose_lr(task: str, method: str, params: float | None) -> tuple[float, str]:
    from antrenor.training.config import DEFAULT_LR

    if params is None:
        return DEFAULT_LR[method], "the method's usual rate (model size unknown)"
    if method == "full" and task == "classification":
        lr = 1e-4 if params < 50 else 5e-5 if params < 200 else 2e-5
    elif method in ("lora", "qlora"):
        lr = 3e-4 if params <= 1000 else 2e-4 if params <= 10000 else 1e-4
    else:
        return DEFAULT_LR[method], f"the usual rate for {method}"
    return lr, f"{method} on {params:.0f}M parameters"


USUAL_LR = {"full": (1e-5, 5e-5), "lora": (5e-5, 2e-4), "qlora": (5e-5, 2e-4)}  # the usual starting points


def outside_usual_range(method: str, lr: float) -> str | None:
    """Why a chosen rate lies outside the usual starting points (full 1e-5..5e-5, LoRA around 1e-4), or None."""
    low, high = USUAL_LR.get(method, (0.0, float("inf")))
    if low <= lr <= high:
        return None
    if method == "full":
        return (f"lr {lr:g} is above the usual 1e-5..5e-5 for full fine-tuning, on purpose: compact encoders take "
                "larger steps (MiniLM at 1e-4 and 2e-4 beat a linear probe that it only matched at lower rates; "
                "docs/benchmarks.md); set lr to override")
    return (f"lr {lr:g} is above the usual 1e-4 for LoRA, on purpose: on models up to 1B parameters LoRA at 1e-4 for "
            "one epoch lost to the base given solved examples, 3e-4 and more epochs beat it (docs/benchmarks.md); "
            "set lr to override")


def choose_epochs(train_size: int) -> tuple[float, str]:
    epochs = 5.0 if train_size < 10000 else 3.0
    return epochs, f"{train_size} training examples; validation stops it early"


def carve_validation(data: PreparedData, seed: int) -> int:
    """Move a seeded share of train into validation when there is none; returns how many moved (0: none)."""
    if data.validation or len(data.train) < 2 * VALIDATION_MIN:
        return 0
    size = min(VALIDATION_MAX, max(VALIDATION_MIN, round(VALIDATION_SHARE * len(data.train))))
    rng = random.Random(seed)
    if data.kind in ("classification", "pairs") and data.train and "label" in data.train[0]:
        by_label: dict[Any, list[int]] = defaultdict(list)
        for index, record in enumerate(data.train):
            by_label[str(record.get("label"))].append(index)
        chosen: list[int] = []
        for indices in by_label.values():  # each label in proportion, at least one where it has two or more
            share = len(indices) * size / len(data.train)
            take = min(len(indices) - 1, max(1, round(share))) if len(indices) > 1 else 0
            chosen += rng.sample(indices, take)
    else:
        chosen = rng.sample(range(len(data.train)), size)
    held = set(chosen)
    data.validation = [data.train[i] for i in sorted(held)]
    data.train = [r for i, r in enumerate(data.train) if i not in held]
    return len(held)


def apply_defaults(cfg: TrainConfig, data: PreparedData, reporter: Any) -> TrainConfig:
    """`cfg` with every unset choice filled in as the module docstring says, each one reported."""
    if cfg.task in TRL_TASKS:
        return cfg  # preference, reward and RL keep their trainers' own defaults
    given = cfg.model_fields_set
    update: dict[str, Any] = {}
    params, kind = model_size_millions(cfg)
    if "method" not in given:
        update["method"], why = choose_method(cfg.task, params, kind)
        reporter.info(f"method {update['method']} (default: {why})")
    method = update.get("method", cfg.method)
    if "lr" not in given:
        update["lr"], why = choose_lr(cfg.task, method, params)
        reporter.info(f"lr {update['lr']:g} (default: {why})")
        outside = outside_usual_range(method, update["lr"])
        if outside:
            reporter.warn(outside)
    if "epochs" not in given and "max_steps" not in given:
        update["epochs"], why = choose_epochs(len(data.train))
        reporter.info(f"up to {update['epochs']:g} epochs (default: {why})")
    if cfg.validation:
        moved = carve_validation(data, cfg.seed)
        if moved:
            reporter.info(f"no validation split in {cfg.data}: {moved} training records held out to choose when to "
                          "stop and which checkpoint to keep (validation: false trains on all of them)")
        elif not data.validation:
            reporter.warn(f"no validation records in {cfg.data}, and {len(data.train)} training records are too few to "
                          f"hold some out (it takes {2 * VALIDATION_MIN}): no early stopping, no best checkpoint and no "
                          "validation figures; give more records")
    if data.validation:
        epochs = update.get("epochs", cfg.epochs)
        steps_per_epoch = max(1, math.ceil(len(data.train) / cfg.effective_batch_size))
        total = cfg.max_steps or math.ceil(steps_per_epoch * epochs)
        if "eval_steps" not in given and "save_steps" not in given:
            update["eval_steps"] = max(1, min(total, math.ceil(steps_per_epoch / EVALUATIONS_PER_EPOCH)))
        if "early_stopping_patience" not in given:
            update["early_stopping_patience"] = PATIENCE
    return cfg.model_copy(update=update) if update else cfg
