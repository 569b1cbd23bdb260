"""What each task needs from the model and the data, behind one shape: `setup_task(cfg, data, tokenizer)`."""

from __future__ import annotations

from typing import Any

from antrenor.console import Reporter
from antrenor.models.template_check import require_sound_template
from antrenor.training import classify, pretrain, sft
from antrenor.training.collate import PackedCollator, PaddedCollator
from antrenor.training.config import TRL_TASKS, TrainConfig
from antrenor.training.data import PreparedData, reference_lines
from antrenor.training.model_setup import TaskSetup, load_model


def setup_task(cfg: TrainConfig, data: PreparedData, tokenizer: Any, reporter: Reporter) -> TaskSetup:
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token  # causal LMs often ship without a pad token
    if cfg.task == "classification":
        return _setup_classification(cfg, data, tokenizer, reporter)
    if cfg.task in TRL_TASKS:
        from antrenor.training.preference import setup_preference_task

        return setup_preference_task(cfg, data, tokenizer, reporter)
    return _setup_language_model(cfg, data, tokenizer, reporter)


def _setup_language_model(cfg: TrainConfig, data: PreparedData, tokenizer: Any, reporter: Reporter) -> TaskSetup:
    if cfg.task == "sft":
        sft.ensure_chat_template_and_say_so(tokenizer, reporter)
        require_sound_template(data.train, data.kind, tokenizer, cfg.max_length)
        train, dropped = sft.build_features(data.train, data.kind, tokenizer, cfg.max_length)
        evaluation, eval_dropped = sft.build_features(data.validation, data.kind, tokenizer, cfg.max_length)
        if dropped + eval_dropped:
            reporter.warn(f"{dropped + eval_dropped} examples are longer than max_length={cfg.max_length} tokens and "
                          "were left out (answers are never cut); raise max_length or re-run prepare with filters.max_length")
        head = sft.HEAD
    else:
        train, split = pretrain.build_features(data.train, cfg.task, tokenizer, cfg.max_length)
        evaluation, _ = pretrain.build_features(data.validation, cfg.task, tokenizer, cfg.max_length)
        if split:
            reporter.info(f"{split} documents longer than max_length were cut into chunks (nothing dropped)")
        head = pretrain.HEADS[cfg.task]
    if cfg.replay.fraction:
        train = train + replay_features(cfg, tokenizer, len(train))
    model, location = load_model(cfg, head)
    # Training needs no KV cache, and packing needs it off: transformers only builds the
    # block-diagonal mask of packed rows when no cache is in use. Restored before saving.
    model.config.use_cache = False
    if cfg.task == "mlm":
        from transformers import DataCollatorForLanguageModeling

        collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, seed=cfg.seed)
    elif cfg.packing and cfg.method != "prompt":
        collator = PackedCollator(cfg.max_length, tokenizer.pad_token_id)
    else:
        collator = PaddedCollator(tokenizer.pad_token_id)
    return TaskSetup(model, head, train, evaluation, collator, language_model=True, location=location)


def replay_features(cfg: TrainConfig, tokenizer: Any, train_size: int) -> list[dict[str, Any]]:
    """General text examples, a `replay.fraction` share of the mixed training set, trained on all tokens."""
    wanted = round(cfg.replay.fraction / (1 - cfg.replay.fraction) * train_size)
    lines = reference_lines(cfg.replay.reference)
    records = [{"text": lines[i % len(lines)]} for i in range(wanted)]
    features, _ = pretrain.build_features(records, "clm", tokenizer, cfg.max_length)
    return features


def _setup_classification(cfg: TrainConfig, data: PreparedData, tokenizer: Any, reporter: Reporter) -> TaskSetup:
    kind_of_problem = classify.problem_type(data.train)
    labels = [] if kind_of_problem == "regression" else data.labels
    classify.check_trainable_labels(data.folder, labels, kind_of_problem)
    classify.check_head_fits(cfg.model, data.folder, labels, kind_of_problem)
    id2label, label2id = classify.label_maps(labels)
    train, _ = classify.build_features(data.train, tokenizer, cfg.max_length, label2id, kind_of_problem)
    evaluation, unknown = classify.build_features(data.validation, tokenizer, cfg.max_length, label2id, kind_of_problem)
    if unknown:
        reporter.warn(f"{unknown} validation records have labels never seen in train and were left out")
    extra = {"problem_type": kind_of_problem, "num_labels": 1 if kind_of_problem == "regression" else len(labels)}
    if labels:
        extra.update(id2label=id2label, label2id=label2id)
    model, location = load_model(cfg, classify.HEAD, **extra)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    from transformers import DataCollatorWithPadding

    collator = DataCollatorWithPadding(tokenizer)
    if cfg.head_init == "probe":
        _start_head_from_probe(model, train, collator, kind_of_problem, cfg.seed, reporter)
    return TaskSetup(model, classify.HEAD, train, evaluation, collator,
                     classify.compute_metrics(kind_of_problem),
                     # config keyword arguments: from_pretrained(out, **labels) rebuilds the head of an adapter run
                     labels={"problem_type": kind_of_problem, "num_labels": extra["num_labels"],
                             "id2label": id2label, "label2id": label2id},
                     location=location)


def _start_head_from_probe(model: Any, train: list[dict[str, Any]], collator: Any, kind_of_problem: str, seed: int,
                           reporter: Reporter) -> None:
    if classify.trained_head_in_checkpoint(model):
        reporter.info("head: kept the trained classification head of the checkpoint (head_init applies to new heads)")
        return
    fit = classify.init_head_from_probe(model, train, collator, kind_of_problem, seed)
    if fit is None:
        reporter.info("head: random start (no linear probe fits this head: multi-label, per-token, or one class)")
    else:
        what = "R^2" if kind_of_problem == "regression" else "training accuracy"
        reporter.info(f"head: started from a linear probe on the frozen model ({what} {fit:.3f}); fine-tuning goes on "
                      "from there (head_init: random to start from random weights)")
