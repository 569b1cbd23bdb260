"""The eval stage: load each model in turn -> run the suites -> compare with the base -> report.

Models are evaluated one at a time and freed, so comparing a base with several checkpoints
needs the memory of one model. Every figure comes from the same examples for every model:
the split (or its seeded sample), the same perturbed copies, the same OOD set.

Example:
    >>> import antrenor
    >>> antrenor.evaluate({"models": ["runs/demo/legal-sft/model"], "data": "runs/demo/legal-sft/data",
    ...                    "output": "runs/demo/legal-sft/eval"})
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from antrenor.config import as_config, save_resolved_config
from antrenor.console import Reporter
from antrenor.errors import ConfigError
from antrenor.evaluation.compare import compare_models
from antrenor.evaluation.config import EvalConfig
from antrenor.evaluation.kshot import choose_shots
from antrenor.evaluation.model_choice import base_model_name, infer_task
from antrenor.evaluation.suites import evaluate_model, make_evaluator, runs_suite
from antrenor.models import loading
from antrenor.models.chat import split_conversation, template_name
from antrenor.models.loading import LoadedModel
from antrenor.models.precision import cpu_supports_bf16
from antrenor.models.registry import check_model_name
from antrenor.records.splits import empty_split_advice, read_split, sample
from antrenor.reporting.output_folder import OutputFolder, check_output, check_writable

SPLITS = ("train", "validation", "test")


@dataclass
class EvalResult:
    output: Path
    report_html: Path
    report_md: Path
    metrics: dict[str, Any]


OodPreparer = Callable[[Path, Path], Path]  # (raw OOD file, folder to write) -> a prepared folder


def evaluate(config: EvalConfig | dict[str, Any] | str | Path, reporter: Reporter | None = None,
             prepare_ood: OodPreparer | None = None) -> EvalResult:
    """Evaluate the tuned models and their base on one prepared split; see EvalConfig.

    Cross-validation (`cv`) trains a model per fold, and an OOD set given as a raw file must be
    prepared first: both run other stages, so antrenor.evaluate() and `antrenor eval` (the pipeline
    layer) handle them and hand `prepare_ood` in. This function alone evaluates.
    """
    cfg = as_config(EvalConfig, config)
    reporter = reporter or Reporter("quiet")
    data_manifest = check_before_work(cfg)
    if cfg.cv:
        raise ConfigError("cv is set: cross-validation trains a model per fold; run it with antrenor.evaluate() "
                          "or `antrenor eval --cv K`")
    output = Path(cfg.output)
    with OutputFolder(output, "eval", [cfg.data, *cfg.models]):
        return _evaluate(cfg, data_manifest, output, reporter, prepare_ood)


def _evaluate(cfg: EvalConfig, data_manifest: dict[str, Any], output: Path, reporter: Reporter,
              prepare_ood: OodPreparer | None) -> EvalResult:
    kind = data_manifest["kind"]
    records = sample(read_split(Path(cfg.data), cfg.split), cfg.max_examples, cfg.seed)
    if not records:
        raise ConfigError(f"{cfg.data}/{cfg.split}.jsonl is empty: nothing to evaluate",
                          problems=[empty_split_advice(cfg.split, data_manifest.get("splits") or {})])
    tuned_manifests = [loading.read_manifest(m) for m in cfg.models]
    task = infer_task(cfg.task, tuned_manifests, kind)
    check_task_fits(cfg, task, kind)
    train_records = read_split(Path(cfg.data), "train") if task == "classification" else []
    labels = _labels(cfg, task, train_records)
    evaluator = make_evaluator(task, kind, cfg, labels, train_records)
    ood_records = read_ood(cfg, kind, task, output, reporter, prepare_ood) if runs_suite(evaluator, "ood", cfg) else None
    notes = _notes(cfg, task, kind, evaluator)
    for note in notes:
        reporter.warn(note)

    results: dict[str, dict[str, Any]] = {}
    # a reward model's base has an untrained head: only a base named explicitly (another reward model) is compared
    base_name = None if task == "reward" and cfg.base == "auto" else base_model_name(cfg.base, tuned_manifests[0])
    bf16 = cpu_supports_bf16()
    entries = ([("base", base_name)] if base_name else []) + [("tuned", m) for m in cfg.models]
    for role, source in entries:
        reporter.info(f"evaluating [bold]{source}[/] ({role})")
        loaded = (loading.load_base(source, task, labels, trust_remote_code=cfg.trust_remote_code,
                                    allow_pickle=cfg.allow_pickle, bf16=bf16) if role == "base" else
                  loading.load_tuned(source, task, trust_remote_code=cfg.trust_remote_code,
                                     allow_pickle=cfg.allow_pickle, bf16=bf16))
        if role == "base":  # asked as the tuned model is (e.g. Qwen3 with thinking off)
            loading.restore_template_kwargs(loaded.tokenizer, tuned_manifests[0])
        loaded.label = _unique_label(loaded, results)
        results[loaded.label] = evaluate_model(loaded, evaluator, records, ood_records, kind, cfg, reporter)
        if role == "base" and task == "sft":
            _kshot_baseline(loaded, evaluator, records, kind, cfg, reporter, results, notes)
        del loaded
        gc.collect()

    judged = None
    if cfg.judge:
        from antrenor.evaluation.alignment_eval import judge_answers

        reporter.info(f"judging the answers with [bold]{cfg.judge}[/]")
        judged = judge_answers(results, records, kind, cfg, reporter)

    from antrenor.evaluation.report import write_reports

    references = [split_conversation(r, kind)[1] for r in records] if task == "sft" else None
    summary = compare_models(results, cfg, task, kind, len(records), notes, references)
    if judged:
        summary["judge"] = judged
    save_resolved_config(cfg, output / "eval_config.yaml")
    html, md = write_reports(output, summary, results, cfg)
    return EvalResult(output, html, md, summary)


def check_before_work(cfg: EvalConfig) -> dict[str, Any]:
    """Every config problem before any model loads; returns the data folder's manifest."""
    problems = []
    manifest_path = Path(cfg.data) / "manifest.json"
    manifest: dict[str, Any] = {}
    if not manifest_path.is_file():
        problems.append(f"{cfg.data} is not an `antrenor prepare` output (no manifest.json); run prepare on your data first")
    else:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if not (Path(cfg.data) / f"{cfg.split}.jsonl").is_file():
            problems.append(f"{cfg.data} has no {cfg.split}.jsonl; choose a split it has with --set split=...")
    for model in cfg.models:
        problem = check_model_name(model)
        if problem:
            problems.append(problem)
    if cfg.base not in (None, "none", "auto") and check_model_name(cfg.base):
        problems.append(check_model_name(cfg.base))
    if cfg.judge and check_model_name(cfg.judge):
        problems.append(f"judge: {check_model_name(cfg.judge)}")
    if cfg.ood and not Path(cfg.ood).exists():
        problems.append(f"ood data {cfg.ood} does not exist")
    if cfg.cv and not Path(cfg.train_config).is_file():
        problems.append(f"train_config {cfg.train_config} does not exist")
    problems += check_output(cfg.output, "eval", [cfg.data, *cfg.models],
                             cfg.overwrite, read_only=[cfg.ood, cfg.judge, cfg.train_config if cfg.cv else None])
    if problems:
        raise ConfigError("cannot start the evaluation:", problems=problems)
    check_writable(cfg.output)
    return manifest


def read_ood(cfg: EvalConfig, kind: str, task: str, output: Path, reporter: Reporter,
             prepare_ood: OodPreparer | None = None) -> list[dict[str, Any]] | None:
    """OOD records: a prepared folder's test split (or all its records), or a raw file prepared here.

    The OOD set holds records of the evaluated kind (scored with the task metrics, and used for
    OOD detection), or, for a classifier, plain text records: inputs that belong to none of its
    classes have no label to score, so they serve detection only.
    """
    if cfg.ood is None:
        return None
    source = Path(cfg.ood)
    if not (source / "manifest.json").is_file():
        if prepare_ood is None:
            raise ConfigError(f"ood data {cfg.ood} is not an `antrenor prepare` output",
                              problems=[f"prepare it first (antrenor prepare --input {cfg.ood} --output DIR), or "
                                        "evaluate with antrenor.evaluate() / `antrenor eval`, which prepare it"])
        source = prepare_ood(source, output / "ood-data")
    ood_kind = json.loads((source / "manifest.json").read_text(encoding="utf-8"))["kind"]
    unlabelled_text = task == "classification" and ood_kind == "text"
    if ood_kind != kind and not unlabelled_text:
        accepted = f"{kind} records" + (" or plain text records (detection only)" if task == "classification" else "")
        raise ConfigError(f"ood data {cfg.ood} holds {ood_kind} records, but the evaluation needs {accepted}")
    records = read_split(source, "test") or [r for split in SPLITS for r in read_split(source, split)]
    detection_only = " (no labels: OOD detection only)" if unlabelled_text else ""
    reporter.info(f"OOD set: {len(records)} records from {cfg.ood}{detection_only}")
    return sample(records, cfg.ood_detection.max_examples, cfg.seed)


def _labels(cfg: EvalConfig, task: str, train_records: list[dict[str, Any]]) -> dict[str, Any]:
    """The label map of the (first) tuned model; else one built from the training split."""
    if task != "classification":
        return {}
    saved = loading.read_labels(Path(cfg.models[0]))
    if saved:
        return saved
    found = sorted({str(label) for r in train_records for label in r.get("labels", [r.get("label")]) if label is not None})
    if train_records and "score" in train_records[0]:
        return {"problem_type": "regression", "num_labels": 1}
    problem = "multi_label_classification" if train_records and "labels" in train_records[0] else "single_label_classification"
    return {"problem_type": problem, "num_labels": len(found), "id2label": dict(enumerate(found)),
            "label2id": {name: i for i, name in enumerate(found)}}


def check_task_fits(cfg: EvalConfig, task: str, kind: str) -> None:
    """The task, the data kind and the judge go together; every mismatch at once, before any model loads."""
    from antrenor.evaluation.alignment_eval import PROMPT_KINDS
    from antrenor.evaluation.config import ALIGNED_LM_TASKS, judge_misuse

    problems = []
    if cfg.judge and task not in ALIGNED_LM_TASKS:
        problems.append(judge_misuse(task))
    if task == "reward" and kind != "preference":
        problems.append(f"task reward is scored on held-out preference pairs, and {cfg.data} holds {kind} records: "
                        "give the data folder the reward model was trained on (prompt/chosen/rejected)")
    if task in ALIGNED_LM_TASKS and kind not in PROMPT_KINDS:
        problems.append(f"task {task} answers prompts, and {cfg.data} holds {kind} records: give preference, "
                        "instruction, chat, completion or feedback data")
    elif task in ALIGNED_LM_TASKS and kind != "preference" and not cfg.judge:
        problems.append(f"task {task} on {kind} data: no preference pairs to score margins on, so only a judge can "
                        "compare the answers; give a reward model with --judge DIR")
    if problems:
        raise ConfigError(f"cannot evaluate task {task} on {cfg.data}:", problems=problems)


def _notes(cfg: EvalConfig, task: str, kind: str, evaluator: Any) -> list[str]:
    notes = []
    skipped = [name for name in cfg.suite if not runs_suite(evaluator, name, cfg)]
    if skipped:
        notes.append(f"{', '.join(skipped)} skipped: not defined for task {task} on {kind} data")
    if "ood" in cfg.suite and cfg.ood is None and "ood" not in skipped:
        notes.append("ood suite skipped: no OOD data given (--ood PATH)")
    if task == "reward" and cfg.base == "auto":
        notes.append("no base compared: a base model's reward head is untrained, so it ranks pairs at chance level "
                     "(0.5); name another reward model with --base to compare with it")
    if task in ("preference", "rl") and not cfg.judge:
        notes.append("no judge: answers are generated but not scored; give a reward model with --judge DIR for "
                     "rewards and the win rate against the base")
    if task == "classification" and cfg.compare_base:
        notes.append("base classifier = the frozen base encoder with a logistic-regression probe fitted on the training "
                     "split (its own head is untrained, so scoring it as is would measure chance)")
    return notes


def _kshot_baseline(loaded: LoadedModel, evaluator: Any, records: list[dict[str, Any]], kind: str, cfg: EvalConfig,
                    reporter: Reporter, results: dict[str, dict[str, Any]], notes: list[str]) -> None:
    """The base again, with k solved training examples before each prompt (evaluation/kshot.py): metrics only."""
    if cfg.kshot == 0:
        return
    shots = choose_shots(read_split(Path(cfg.data), "train"), kind, loaded.tokenizer, records, cfg.kshot, cfg.kshot_max,
                         cfg.kshot_max_tokens, cfg.max_new_tokens, cfg.seed)
    k = sum(1 for turn in shots if turn["role"] == "assistant")
    if not k:
        notes.append("no k-shot baseline: the training split has no example that fits kshot_max_tokens")
        return
    loaded.label, loaded.role = f"base {k}-shot", "baseline"
    plain = template_name(loaded.tokenizer.chat_template) != "the model's own"  # a base model: no chat format of its own
    reporter.info(f"evaluating the base with {k} training examples in each prompt ({loaded.label}, "
                  f"{'plain text' if plain else 'as chat turns'})")
    evaluator.shots, evaluator.plain_shots = shots, plain
    try:
        results[loaded.label] = evaluate_model(loaded, evaluator, records, None, kind,
                                               cfg.model_copy(update={"suite": ["metrics"]}), reporter)
    finally:
        evaluator.shots, evaluator.plain_shots = [], False


def _unique_label(loaded: LoadedModel, taken: dict[str, Any]) -> str:
    label = loaded.label
    if label in taken and loaded.role == "tuned":
        label = "/".join(Path(loaded.source).parts[-2:])
    while label in taken:
        label += "'"
    return label
