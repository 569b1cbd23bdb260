"""Task `rl`: online reinforcement learning with GRPO (TRL's GRPOTrainer) against declared rewards.

For each prompt the policy samples `rl.num_generations` completions; the rewards (rewards.py) score them,
and GRPO moves the policy towards the completions that beat their group's mean, with a KL pull (`rl.beta`)
towards the reference. With LoRA the reference is the base with the adapter switched off: no copy.

The prompts come from prepared instruction, chat, completion or preference data; each record's own answer
(instruction output, last assistant turn, chosen answer) travels along as `reference`, for the `reference`
reward and for user functions.
"""

from __future__ import annotations

import random
from typing import Any

from antrenor.console import Reporter
from antrenor.errors import ConfigError
from antrenor.models.registry import check_model_name
from antrenor.records.kinds import prompt_messages, to_messages
from antrenor.training.config import TrainConfig
from antrenor.training.data import PreparedData
from antrenor.training.rl_config import ClassifierReward, FunctionReward, ModelReward


def prompt_rows(records: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """{"prompt": messages up to the answer, "reference": the record's answer text or None} per record."""
    rows = []
    for record in records:
        if kind in ("preference", "feedback"):
            answer = record.get("chosen") if kind == "preference" else (record["completion"] if record["label"] else None)
            prompt, reference = prompt_messages(record["prompt"]), _text(answer)
        else:
            messages = to_messages(record, kind)
            last_answer = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=len(messages))
            prompt = messages[:last_answer]
            reference = messages[last_answer]["content"] if last_answer < len(messages) else None
        if prompt:
            rows.append({"prompt": prompt, "reference": reference})
    return rows


def _text(answer: Any) -> str | None:
    if answer is None or isinstance(answer, str):
        return answer
    return "".join(message.get("content") or "" for message in answer)


def setup_rl_task(cfg: TrainConfig, data: PreparedData, tokenizer: Any, reporter: Reporter) -> Any:
    from antrenor.training import sft
    from antrenor.training.model_setup import TaskSetup, load_model

    train = prompt_rows(data.train, data.kind)
    evaluation = prompt_rows(data.validation, data.kind)
    if len(evaluation) > cfg.rl.eval_prompts:  # each evaluation samples num_generations completions per prompt
        evaluation = random.Random(cfg.seed).sample(evaluation, cfg.rl.eval_prompts)
    if not train:
        raise ConfigError(f"{cfg.data}: no prompts to train on", problems=["the train split is empty"])
    model, location = load_model(cfg, sft.HEAD)
    tokenizer.padding_side = "left"  # generation continues each prompt where it ends
    return TaskSetup(model, sft.HEAD, train, evaluation, collator=None, language_model=True, location=location)


def grpo_trainer(cfg: TrainConfig, tokenizer: Any) -> tuple[Any, Any, dict[str, Any], dict[str, Any]]:
    """GRPOTrainer, GRPOConfig, the config keys antrenor sets, and the reward functions."""
    from trl import GRPOConfig, GRPOTrainer

    from antrenor.training.rewards import build_rewards

    settings = cfg.rl
    functions, weights = build_rewards(settings.rewards, tokenizer, trust_remote_code=cfg.trust_remote_code,
                                       allow_pickle=cfg.allow_pickle)
    group = settings.num_generations
    keys = {
        "num_generations": group,
        "max_completion_length": settings.max_completion_length,
        "temperature": settings.temperature,
        "beta": settings.beta,
        "reward_weights": weights,
        # evaluation batches hold whole groups too
        "per_device_eval_batch_size": group * max(1, 8 // group),
        "disable_dropout": True,
        "log_completions": False,  # would print rich tables into the progress display
    }
    return GRPOTrainer, GRPOConfig, keys, {"reward_funcs": functions}


def rl_problems(cfg: TrainConfig) -> list[str]:
    """Rewards that cannot load, found before any model loads."""
    if cfg.task != "rl":
        return []
    from antrenor.training.rewards import import_function

    problems = []
    for spec in cfg.rl.rewards:
        if isinstance(spec, (ModelReward, ClassifierReward)):
            problem = check_model_name(spec.model)
            if problem:
                problems.append(f"{spec.type} reward: {problem}")
        elif isinstance(spec, FunctionReward):
            try:
                import_function(spec.function)
            except ConfigError as error:
                problems.append("; ".join([error.message, *error.problems]))
    return problems
