"""Preference tuning with TRL's trainers: reward models, and DPO / IPO / SimPO / ORPO / KTO.

antrenor adds what TRL leaves to the user: the prepared data folder in TRL's conversational format,
one validated config, the same TrainingArguments (checkpoints, resume, bf16, logging) and callbacks
(metrics.jsonl, progress, Ctrl-C, TensorBoard) as every other task, and the same output folder.

- `reward`: a sequence-classification head with one output (the reward) on the base model, trained
  with TRL's RewardTrainer (Bradley-Terry loss on chosen vs rejected); its validation metric is
  pairwise accuracy on held-out pairs.
- `preference`: the causal LM itself, with the algorithm's trainer:
    dpo    DPOTrainer, sigmoid loss           (reference model: the base with the adapter disabled)
    ipo    DPOTrainer, IPO loss               (same reference)
    simpo  CPOTrainer, SimPO loss, no SFT term (reference-free, length-normalized)
    orpo   ORPOTrainer                        (reference-free: odds ratio plus the SFT loss)
    kto    KTOTrainer                         (good/bad examples; paired data is split into both)
  With LoRA, the reference costs no memory: TRL computes it with the adapter switched off. With full
  fine-tuning, DPO/IPO/KTO keep a frozen copy of the model.
"""

from __future__ import annotations

import random
from typing import Any, Sequence

from antrenor.console import Reporter
from antrenor.records.kinds import conversational
from antrenor.training.config import TrainConfig
from antrenor.training.data import PreparedData

PREFERENCE_TASKS = ("reward", "preference", "rl")  # the tasks TRL's trainers train (rl: training/rl.py)
REFERENCE_FREE = ("simpo", "orpo")


def setup_preference_task(cfg: TrainConfig, data: PreparedData, tokenizer: Any, reporter: Reporter) -> Any:
    from antrenor.training import classify, sft
    from antrenor.training.model_setup import TaskSetup, load_model

    sft.ensure_chat_template_and_say_so(tokenizer, reporter)
    if cfg.task == "rl":
        from antrenor.training.rl import setup_rl_task

        return setup_rl_task(cfg, data, tokenizer, reporter)
    algorithm = cfg.preference.algorithm if cfg.task == "preference" else None
    if cfg.task == "reward" and data.kind != "preference":
        from antrenor.errors import ConfigError

        raise ConfigError(f"task reward learns from preference pairs, and {cfg.data} holds {data.kind} records",
                          problems=["prepare prompt/chosen/rejected records, or build pairs from instruction data with prepare's build_preference section"])
    if cfg.task == "preference":  # the answers are trained: their rendering must be the one generation meets
        from antrenor.models.template_check import require_sound_template

        require_sound_template(data.train, data.kind, tokenizer, cfg.max_length)
    train = conversational(data.train, data.kind, algorithm)
    if algorithm == "kto":  # KTO reads its data in order (train_sampling_strategy sequential): shuffle it once here
        random.Random(cfg.seed).shuffle(train)
    evaluation = conversational(data.validation, data.kind, algorithm)
    if cfg.task == "reward":
        model, location = load_model(cfg, classify.HEAD, num_labels=1)
        if model.config.pad_token_id is None:
            model.config.pad_token_id = tokenizer.pad_token_id
        head = classify.HEAD
    else:
        model, location = load_model(cfg, sft.HEAD)
        model.config.use_cache = False
        head = sft.HEAD
    # config keyword arguments for from_pretrained(out, **labels), as for classification: an adapter's base loads with
    # two labels otherwise
    labels = {"num_labels": 1} if cfg.task == "reward" else {}
    return TaskSetup(model, head, train, evaluation, collator=None, language_model=cfg.task == "preference",
                     labels=labels, location=location)


def build_preference_trainer(cfg: TrainConfig, model: Any, tokenizer: Any, task: Any, reporter: Reporter,
                             extra_callbacks: Sequence[Any] = ()) -> Any:
    import datasets
    from transformers import PrinterCallback

    from antrenor.training.trainer_setup import training_arguments, training_callbacks

    trainer_class, config_class, settings, trainer_inputs = _trainer_for(cfg, tokenizer)
    peft_config = None
    if hasattr(model, "peft_config"):
        # TRL wraps the base itself when given the adapter config, and then takes the base with the adapter switched
        # off as the reference. Given a ready PeftModel, it would add a copy of the adapter as the reference instead.
        peft_config = model.peft_config["default"]
        model = model.unload()
    # TRL tokenizes the rows itself, and its collators pad: no length grouping or packing of ours
    # KTO compares each example with its batch neighbours, so it needs the data in a fixed (pre-shuffled) order
    order = "sequential" if cfg.task == "preference" and cfg.preference.algorithm == "kto" else "random"
    if cfg.task == "rl" and cfg.metric is None:
        cfg = cfg.model_copy(update={"metric": "reward"})  # GRPO's loss says little; the validation reward does
    args = training_arguments(cfg, task, reporter, arguments_class=config_class, train_sampling_strategy=order,
                              **settings)
    trainer = trainer_class(
        model=model, args=args, processing_class=tokenizer,
        train_dataset=datasets.Dataset.from_list(task.train_features),
        eval_dataset=datasets.Dataset.from_list(task.eval_features) if task.eval_features else None,
        callbacks=training_callbacks(cfg, args, reporter, extra_callbacks), peft_config=peft_config, **trainer_inputs,
    )
    trainer.remove_callback(PrinterCallback)
    return trainer


def _trainer_for(cfg: TrainConfig, tokenizer: Any) -> tuple[Any, Any, dict[str, Any], dict[str, Any]]:
    """The TRL trainer and config class for the task/algorithm, the config keys antrenor sets, and the trainer's
    other inputs."""
    if cfg.task == "rl":
        from antrenor.training.rl import grpo_trainer

        return grpo_trainer(cfg, tokenizer)
    length = {"max_length": cfg.max_length}
    if cfg.task == "reward":
        from trl import RewardConfig, RewardTrainer

        return RewardTrainer, RewardConfig, {"disable_dropout": True, **length}, {}
    settings = cfg.preference
    beta = settings.resolved_beta
    if settings.algorithm in ("dpo", "ipo"):
        from trl import DPOConfig, DPOTrainer

        loss = ["sigmoid" if settings.algorithm == "dpo" else "ipo"]
        return DPOTrainer, DPOConfig, {"beta": beta, "loss_type": loss, **length}, {}
    if settings.algorithm == "simpo":
        from trl.experimental.cpo import CPOConfig, CPOTrainer

        return CPOTrainer, CPOConfig, {"beta": beta, "loss_type": "simpo", "cpo_alpha": 0.0,
                                       "simpo_gamma": settings.simpo_gamma, **length}, {}
    if settings.algorithm == "orpo":
        from trl.experimental.orpo import ORPOConfig, ORPOTrainer

        return ORPOTrainer, ORPOConfig, {"beta": beta, **length}, {}
    from trl import KTOConfig, KTOTrainer

    return KTOTrainer, KTOConfig, {"beta": beta, **length}, {}
