"""TrainingArguments and callbacks from a TrainConfig: the one place that maps our keys to the Trainer's."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from antrenor.console import Reporter
from antrenor.errors import ConfigError
from antrenor.training import ewc
from antrenor.training.callbacks import (
    CheckpointMarkerCallback,
    InterruptCallback,
    MetricsFileCallback,
    ProgressCallback,
)
from antrenor.training.collate import PackedCollator, PaddedCollator
from antrenor.training.config import TrainConfig
from antrenor.training.data import reference_lines
from antrenor.training.precision import use_bf16
from antrenor.training.trainer import AntrenorTrainer, labelled_positions_loss


def _world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def _distributed() -> bool:
    """Launched by accelerate/torchrun with several processes."""
    return _world_size() > 1


def micro_batch_size(cfg: TrainConfig) -> int:
    """The configured batch_size, or the measured best default: on CPU one sequence at a time for language
    models (no padding, no cross-example mask, a third of the memory of 8, and faster), else 8."""
    if cfg.batch_size:
        return cfg.batch_size
    on_cpu = not torch.cuda.is_available()
    preferred = 1 if on_cpu and cfg.task in ("sft", "clm") else 8
    per_process = max(1, cfg.effective_batch_size // _world_size())
    return math.gcd(preferred, per_process)  # divides the examples each process takes per step


def accumulation_steps(cfg: TrainConfig) -> int:
    """Micro-batches per optimizer step so that batch_size x processes x steps = effective_batch_size."""
    batch = micro_batch_size(cfg)
    per_step = batch * _world_size()
    if cfg.effective_batch_size % per_step:
        raise ConfigError(f"effective_batch_size {cfg.effective_batch_size} is not a multiple of batch_size "
                          f"{batch} x {_world_size()} processes")
    return cfg.effective_batch_size // per_step


def build_trainer(cfg: TrainConfig, model: Any, tokenizer: Any, task: Any, reporter: Reporter,
                  extra_callbacks: Sequence[Any] = ()) -> AntrenorTrainer:
    from transformers import PrinterCallback

    args = training_arguments(cfg, task, reporter)
    callbacks = training_callbacks(cfg, args, reporter, extra_callbacks)
    if cfg.gradient_checkpointing and hasattr(model, "enable_input_require_grads"):
        model.enable_input_require_grads()
    penalty = _ewc_penalty(cfg, model, tokenizer, task, reporter) if cfg.ewc.weight > 0 else None
    if cfg.compile:
        compile_body(model, reporter)
    trainer = AntrenorTrainer(
        model=model, args=args, train_dataset=task.train_features, eval_dataset=task.eval_features or None,
        data_collator=task.collator, compute_metrics=task.compute_metrics, callbacks=callbacks,
        selective_loss=task.head == "causal-lm" and cfg.method != "prompt", ewc=penalty, language_model=task.language_model,
        attn_implementation=cfg.attn_implementation,
    )
    trainer.remove_callback(PrinterCallback)  # our progress bar and metrics.jsonl say the same, tidily
    return trainer


def training_callbacks(cfg: TrainConfig, args: Any, reporter: Reporter, extra_callbacks: Sequence[Any] = ()) -> list[Any]:
    """metrics.jsonl, the progress bar, Ctrl-C handling, checkpoint markers, TensorBoard, early stopping."""
    from transformers import EarlyStoppingCallback

    output = Path(cfg.output)
    callbacks = [MetricsFileCallback(output / "metrics.jsonl"), ProgressCallback(reporter), InterruptCallback(),
                 CheckpointMarkerCallback()]
    if "tensorboard" in cfg.report_to:
        from torch.utils.tensorboard import SummaryWriter
        from transformers.integrations import TensorBoardCallback

        board = TensorBoardCallback(tb_writer=SummaryWriter(log_dir=str(output / "tensorboard")))
        board.logging_dir = str(output / "tensorboard")  # where it reopens its writer after training ends
        callbacks.append(board)
    if cfg.early_stopping_patience and args.load_best_model_at_end:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience))
    callbacks.extend(extra_callbacks)  # the caller's, e.g. hyperparameter search pruning
    return callbacks


def training_arguments(cfg: TrainConfig, task: Any, reporter: Reporter, arguments_class: Any = None,
                       **overrides: Any) -> Any:
    """The Trainer's TrainingArguments for this config and task (its training and validation features, collator).

    `arguments_class` and `overrides`: a TRL trainer's config class (a TrainingArguments subclass) and its own keys.
    """
    from transformers import TrainingArguments

    output = Path(cfg.output)
    has_eval = bool(task.eval_features)
    steps_per_epoch = max(1, math.ceil(len(task.train_features) / cfg.effective_batch_size))
    total_steps = cfg.max_steps or max(1, math.ceil(steps_per_epoch * cfg.epochs))
    eval_steps = cfg.eval_steps or cfg.save_steps or max(1, total_steps // 4)
    save_steps = cfg.save_steps or eval_steps
    track_best = has_eval and save_steps % eval_steps == 0
    if has_eval and not track_best:
        reporter.warn(f"save_steps {save_steps} is not a multiple of eval_steps {eval_steps}: "
                      "the best checkpoint cannot be tracked, the final one is kept")
    eval_batch = max(8, micro_batch_size(cfg))
    uneven = has_eval and uneven_eval_split(len(task.eval_features), eval_batch, _world_size())
    if uneven:
        reporter.warn(uneven)
    if cfg.fsdp and not torch.cuda.is_available():  # seen here: accelerate keeps CPU processes in plain DDP
        reporter.warn("fsdp does nothing without a GPU: accelerate shards only GPU processes, CPU ones train with plain DDP")
    metric = cfg.metric or ("accuracy" if task.compute_metrics and task.labels.get("problem_type") == "single_label_classification"
                            else "loss")
    bf16 = use_bf16(cfg)
    values = dict(
        output_dir=str(output / "checkpoints"),
        per_device_train_batch_size=micro_batch_size(cfg),
        per_device_eval_batch_size=eval_batch,
        gradient_accumulation_steps=accumulation_steps(cfg),
        learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps or -1,
        warmup_steps=round(cfg.warmup_ratio * total_steps),
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        lr_scheduler_type=cfg.scheduler,
        seed=cfg.seed,
        data_seed=cfg.seed,
        eval_strategy="steps" if has_eval else "no",
        eval_steps=eval_steps,
        save_strategy="steps",
        save_steps=save_steps,
        save_total_limit=cfg.keep_checkpoints,
        load_best_model_at_end=track_best,
        metric_for_best_model=metric if track_best else None,
        greater_is_better=metric not in ("loss", "mse") if track_best else None,
        logging_steps=max(1, min(10, total_steps // 20)),
        logging_first_step=True,
        bf16=bf16,
        use_cpu=not torch.cuda.is_available(),
        **_checkpointing_arguments(cfg.gradient_checkpointing),
        # packed rows have no padding to save; padded batches waste least when grouped by length
        train_sampling_strategy="random" if isinstance(task.collator, PackedCollator) else "group_by_length",
        remove_unused_columns=False,
        report_to=[name for name in cfg.report_to if name != "tensorboard"],
        disable_tqdm=True,
        dataloader_num_workers=0,
        ddp_backend="gloo" if _distributed() and not torch.cuda.is_available() else None,
        **sharding_arguments(cfg),
    )
    return (arguments_class or TrainingArguments)(**{**values, **overrides})


def compile_body(model: Any, reporter: Reporter) -> None:
    """torch.compile the transformer body in place (`Module.compile`): parameter names, and so checkpoints and the
    saved folder, stay those of the plain model. The body, not the whole model: the causal-LM loss calls the
    decoder directly (trainer.py), and the heads are single matmuls with nothing to fuse."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        body = base.get_decoder()  # the decoder of a causal LM, the encoder body (e.g. BertModel) of a classifier
    except (AttributeError, ValueError, NotImplementedError):
        body = base
    reporter.info(f"compiling {type(body).__name__} with torch.compile (dynamic shapes): the first steps take minutes")
    body.compile(dynamic=True)


def uneven_eval_split(examples: int, eval_batch: int, processes: int) -> str | None:
    """Why eval_loss under DDP may differ from one process: accelerate evens out the processes' last
    batches by repeating examples, and the Trainer's loss average counts those repeats."""
    if processes < 2 or examples % (eval_batch * processes) == 0:
        return None
    return (f"{examples} validation examples do not split evenly into {processes} processes x batch {eval_batch}: "
            "accelerate repeats some to even the batches, so eval_loss differs slightly from a one-process run "
            "(training does not)")


def sharding_arguments(cfg: TrainConfig) -> dict[str, Any]:
    """DeepSpeed or FSDP for the Trainer, which hands them to accelerate; plain DDP when neither is set."""
    if cfg.deepspeed:
        return {"deepspeed": cfg.deepspeed}
    if cfg.fsdp:
        # TrainingArguments reads an fsdp_config path as JSON only: a YAML file is read here
        settings = read_settings_file("fsdp_config", cfg.fsdp_config) if cfg.fsdp_config else None
        return {"fsdp": cfg.fsdp, "fsdp_config": settings}
    return {}


def read_settings_file(key: str, path: str) -> dict[str, Any]:
    """A deepspeed (JSON) or fsdp_config (JSON or YAML) file as a dict; ConfigError says what is wrong with it."""
    import yaml

    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{key} {path}: no such file (examples/scale-out/ has ready ones)")
    text = file.read_text(encoding="utf-8")
    yaml_allowed = key == "fsdp_config" and file.suffix.lower() in (".yaml", ".yml")
    try:
        settings = yaml.safe_load(text) if yaml_allowed else json.loads(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise ConfigError(f"{key} {path}: not valid {'YAML' if yaml_allowed else 'JSON'}: {error}") from None
    if not isinstance(settings, dict):
        raise ConfigError(f"{key} {path}: must hold an object of settings, not {type(settings).__name__}")
    return settings


def _ewc_penalty(cfg: TrainConfig, model: Any, tokenizer: Any, task: Any, reporter: Reporter) -> ewc.EwcPenalty:
    lines = reference_lines(cfg.ewc.reference, limit=cfg.ewc.samples)
    reporter.info(f"EWC: estimating the Fisher information on {len(lines)} reference samples")
    encoded = tokenizer(lines, truncation=True, max_length=min(cfg.max_length, 256))["input_ids"]
    pad = PaddedCollator(tokenizer.pad_token_id)
    batches = [pad([{"input_ids": ids} for ids in encoded[i : i + 4]]) for i in range(0, len(encoded), 4)]
    return ewc.build_penalty(model, batches, _reference_loss(task.head), cfg.ewc.weight)


def _reference_loss(head: str):
    """The loss whose gradients define the Fisher: LM loss, or the classifier's own prediction."""
    def loss_of(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if head == "causal-lm":
            return labelled_positions_loss(model, batch)
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        if head == "masked-lm":
            return model(**inputs, labels=batch["labels"]).loss
        logits = model(**inputs).logits
        if logits.shape[-1] == 1:
            return (logits ** 2).mean()
        return torch.nn.functional.cross_entropy(logits, logits.argmax(dim=-1).detach())
    return loss_of


def _checkpointing_arguments(enabled: bool) -> dict[str, Any]:
    """Newer transformers call it activation checkpointing (the old name warns); older releases know only the old name."""
    import dataclasses

    from transformers import TrainingArguments

    prefix = "activation" if "activation_checkpointing" in {f.name for f in dataclasses.fields(TrainingArguments)} else "gradient"
    return {f"{prefix}_checkpointing": enabled,
            f"{prefix}_checkpointing_kwargs": {"use_reentrant": False} if enabled else None}
