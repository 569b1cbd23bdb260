"""The train stage: setup -> train -> save -> cleanup, reading top to bottom.

Example:
    >>> import antrenor
    >>> antrenor.train({"data": "runs/demo/legal-sft/data", "model": "smollm2-135m-instruct",
    ...                 "task": "sft", "method": "lora", "output": "runs/demo/legal-sft/model", "max_steps": 20})
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from antrenor.config import as_config, save_resolved_config
from antrenor.console import Reporter
from antrenor.errors import ConfigError
from antrenor.models.registry import check_model_name, load_tokenizer
from antrenor.reporting.files import write_json_atomic
from antrenor.reporting.output_folder import OutputFolder, check_output, check_writable
from antrenor.training import outputs
from antrenor.training.adapters import apply_method, trainable_summary
from antrenor.training.callbacks import StepCountCallback
from antrenor.training.checkpoint import checkpoints, resumable_checkpoint
from antrenor.training.config import TASK_KINDS, TrainConfig
from antrenor.training.data import check_prepared_folder, load_prepared
from antrenor.training.defaults import apply_defaults
from antrenor.training.preference import PREFERENCE_TASKS, build_preference_trainer
from antrenor.training.rl import rl_problems
from antrenor.training.sft import use_chat_template_kwargs
from antrenor.training.tasks import setup_task
from antrenor.training.trackers import tracker_runs
from antrenor.training.trainer_setup import build_trainer, read_settings_file


@dataclass
class TrainResult:
    output: Path
    status: str  # "completed" or "interrupted"
    trainable_parameters: int
    total_parameters: int
    metrics: dict[str, Any] = field(default_factory=dict)
    model: Any = field(default=None, repr=False)  # the trained model (best checkpoint when validating)


def train(config: TrainConfig | dict[str, Any] | str | Path, reporter: Reporter | None = None,
          callbacks: Sequence[Any] = ()) -> TrainResult:
    """Fine-tune as `config` says; `callbacks` (transformers TrainerCallbacks) join antrenor's own, e.g. a
    hyperparameter search's pruning callback that stops a run early (`control.should_training_stop`)."""
    cfg = as_config(TrainConfig, config)
    reporter = reporter or Reporter("quiet")
    check_before_work(cfg)

    from transformers import set_seed

    set_seed(cfg.seed)
    output = Path(cfg.output)
    # a run that fails leaves no empty folder; an interrupted one stays marked unfinished (--resume goes on)
    with OutputFolder(output, "train", [cfg.data, cfg.model]) as folder:
        result = _train(cfg, output, reporter, callbacks)
        folder.complete = result.status == "completed"
    return result


def _train(cfg: TrainConfig, output: Path, reporter: Reporter, callbacks: Sequence[Any]) -> TrainResult:
    data = load_prepared(cfg.data)
    cfg = apply_defaults(cfg, data, reporter)
    for doubt in cfg.doubts():  # after the defaults: a chosen value outside the usual ranges is explained too
        reporter.warn(doubt)
    tokenizer = load_tokenizer(cfg.model, trust_remote_code=cfg.trust_remote_code)
    use_chat_template_kwargs(tokenizer, cfg.chat_template_kwargs, reporter)  # saved with the tokenizer
    task = setup_task(cfg, data, tokenizer, reporter)
    model = apply_method(task.model, cfg, task.head)
    trainable, total = trainable_summary(model)
    reporter.info(f"trainable parameters: [bold]{trainable:,}[/] of {total:,} ({100 * trainable / total:.2f} %), "
                  f"method {cfg.method}; {len(task.train_features)} training examples")

    with tracker_runs(cfg, run_name=output.name):
        trainer, metrics, interrupted = _train_and_save(cfg, output, data, task, tokenizer, model, trainable, total,
                                                        reporter, callbacks)
    return TrainResult(output, "interrupted" if interrupted else "completed", trainable, total, metrics, trainer.model)


def _train_and_save(cfg, output, data, task, tokenizer, model, trainable, total, reporter, callbacks):
    builder = build_preference_trainer if cfg.task in PREFERENCE_TASKS else build_trainer
    trainer = builder(cfg, model, tokenizer, task, reporter, callbacks)
    resume_from = _resume_checkpoint(cfg, output, reporter)
    step_count = StepCountCallback()
    trainer.add_callback(step_count)
    train_output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    interrupted = any(getattr(cb, "interrupted", False) for cb in trainer.callback_handler.callbacks)

    metrics = {**train_output.metrics, **step_count.figures()}
    if task.eval_features and not interrupted:
        metrics.update(_final_evaluation(trainer))
    if interrupted:
        reporter.warn(f"interrupted at step {trainer.state.global_step}: a checkpoint was saved; continue with --resume")
    elif task.language_model and task.head == "causal-lm":
        trainer.model.config.use_cache = True  # for generation with the saved model
    if not interrupted:
        trainer.save_model(str(output))  # writes on the main process only
    if trainer.is_world_process_zero():
        _write_run_outputs(cfg, output, data, task, tokenizer, trainer, trainable, total, metrics, interrupted)
    return trainer, metrics, interrupted


def _final_evaluation(trainer: Any) -> dict[str, Any]:
    """The evaluation of the model training ended with: the one logged at the last step when that model is the one
    kept (GRPO samples completions to evaluate: a second pass would cost minutes on CPU), else a new one."""
    state = trainer.state
    last = next((row for row in reversed(state.log_history) if "eval_loss" in row or "eval_reward" in row), None)
    kept_last = state.best_model_checkpoint is None or state.best_model_checkpoint.endswith(f"-{state.global_step}")
    if last is not None and last.get("step") == state.global_step and kept_last:
        return {key: value for key, value in last.items() if key.startswith("eval_")}
    return trainer.evaluate()


def _write_run_outputs(cfg, output, data, task, tokenizer, trainer, trainable, total, metrics, interrupted) -> None:
    if not interrupted:
        tokenizer.save_pretrained(str(output))
    save_resolved_config(cfg, output / "train_config.yaml")
    outputs.write_manifest(output, cfg, data, task, trainable, total, metrics, interrupted)
    outputs.write_training_curves(output, trainer.state.log_history)
    if task.labels:
        write_json_atomic(output / "labels.json", task.labels)


def check_before_work(cfg: TrainConfig) -> None:
    """Every config problem, before any model loads."""
    problems = check_prepared_folder(cfg.data, TASK_KINDS[cfg.task], cfg.task)
    model_problem = check_model_name(cfg.model)
    if model_problem:
        problems.append(model_problem)
    problems += _missing_extras(cfg)
    problems += _sharding_problems(cfg)
    problems += rl_problems(cfg)
    if cfg.method == "qlora":
        from antrenor.training.qlora import check_qlora_available

        problems += [p for p in [check_qlora_available()] if p]
    output = Path(cfg.output)
    problems += check_output(output, "train", [cfg.data, cfg.model], cfg.overwrite)
    if not cfg.resume and checkpoints(output / "checkpoints"):
        problems.append(f"{output} holds checkpoints of an earlier run: continue it with --resume, or choose a new output")
    if problems:
        raise ConfigError("cannot start training:", problems=problems)
    check_writable(output)


def _missing_extras(cfg: TrainConfig) -> list[str]:
    import importlib.util

    needed = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}
    return [f"report_to {name} needs the {name} package: pip install {needed[name]}"
            for name in cfg.report_to if importlib.util.find_spec(needed[name]) is None]


def _sharding_problems(cfg: TrainConfig) -> list[str]:
    """The deepspeed / fsdp_config files must be readable, and DeepSpeed installed (combinations: TrainConfig)."""
    import importlib.util

    problems = []
    for key in ("deepspeed", "fsdp_config"):
        path = getattr(cfg, key)
        if path:
            try:
                read_settings_file(key, path)
            except ConfigError as error:
                problems.append(str(error))
    if cfg.deepspeed and importlib.util.find_spec("deepspeed") is None:
        problems.append("deepspeed needs the deepspeed package: pip install deepspeed "
                        "(it compiles CUDA kernels: install it on the GPU machines, see docs/scale-out.md)")
    return problems


def _resume_checkpoint(cfg: TrainConfig, output: Path, reporter: Reporter) -> Path | None:
    if not cfg.resume:
        return None
    found, skipped = resumable_checkpoint(output / "checkpoints")
    for check in skipped:
        reporter.warn(f"skipping {check.folder}: {check.problem}")
    if found is None:  # training again costs time; failing would leave the user to delete the checkpoints by hand
        reporter.warn("--resume: no intact checkpoint found" + (f" ({len(skipped)} skipped, above)" if skipped else "")
                      + ", starting from the beginning")
        return None
    if not found.hashed:
        reporter.warn(f"{found.folder} was saved by an older antrenor without content hashes: only its file sizes "
                      "were checked, and that its files load")
    reporter.info(f"resuming from {found.folder}" + (f" (the newest intact checkpoint; {len(skipped)} newer skipped)"
                                                     if skipped else ""))
    return found.folder
