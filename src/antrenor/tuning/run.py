"""`antrenor tune`: a hyperparameter search over the train section of a pipeline YAML, with optuna.

check everything -> open (or resume) the study -> one `train` per trial, pruned at evaluations ->
reports. Trials run one after another in this process; one search per output folder at a time.

Example:
    >>> import antrenor
    >>> result = antrenor.tune("examples/legal-sft.yaml", overrides={"trials": 10})
    >>> result.best.params
    {'lr': 0.000213, 'lora.r': 16, 'lora.alpha': 32, 'warmup_ratio': 0.07, 'weight_decay': 0.02}
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from antrenor.console import Reporter
from antrenor.errors import ConfigError
from antrenor.reporting.files import write_text_atomic
from antrenor.reporting.output_folder import check_writable, remove_own_folder
from antrenor.tuning import report
from antrenor.tuning.config import ParamRange
from antrenor.tuning.pipeline_yaml import best_pipeline_text
from antrenor.tuning.plan import SearchPlan, plan_search
from antrenor.tuning.space import suggest

STUDY_NAME = "antrenor-tune"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
KEPT_FILES = ("training_args.bin",)  # not weights: the Trainer's arguments, a few kB


@dataclass
class TuneResult:
    output: Path
    status: str  # completed, timeout or failing (fewer trials than asked), or interrupted
    metric: str
    direction: str
    space: dict[str, ParamRange]
    trials: list[report.TrialRow]
    best: report.TrialRow | None
    trials_csv: Path
    report_md: Path
    best_json: Path | None
    best_pipeline: Path | None


class _SearchInterrupted(Exception):
    """Ctrl-C during a trial: optuna records the trial as failed, the search stops, the reports are written."""


def tune(pipeline: str | Path | dict[str, Any], reporter: Reporter | None = None, *,
         overrides: dict[str, Any] | None = None, pruner: Any = None) -> TuneResult:
    """Search the train hyperparameters of `pipeline` (a pipeline YAML path, or its mapping of sections).

    overrides: tune keys that win over the YAML's tune section (what the CLI's flags set).
    pruner: an optuna pruner to use instead of the configured one (e.g. optuna.pruners.ThresholdPruner).
    """
    reporter = reporter or Reporter("quiet")
    plan = plan_search(pipeline, overrides)
    for doubt in plan.doubts:
        reporter.warn(doubt)
    if pruner is None and plan.tune.pruner.kind == "median" and plan.tune.pruner.n_startup_trials >= plan.tune.trials:
        reporter.warn(f"pruner.n_startup_trials {plan.tune.pruner.n_startup_trials} >= trials {plan.tune.trials}: "
                      "no trial will be pruned")
    check_writable(plan.output)
    plan.output.mkdir(parents=True, exist_ok=True)
    study = _open_study(plan, pruner, reporter)
    finished = _finished_count(study)
    reporter.info(f"searching {', '.join(f'{k} {s.as_text()}' for k, s in plan.space.items())}; "
                  f"{plan.metric} ({plan.direction}); study [bold]{plan.output / 'study.db'}[/]"
                  + (f"; resuming: {finished} of {plan.tune.trials} trials already finished" if finished else ""))
    status = _run_trials(plan, study, reporter)
    return _write_outputs(plan, study, status, reporter)


def _run_trials(plan: SearchPlan, study: Any, reporter: Reporter) -> str:
    """Run trials until `trials` have finished; a trial whose loss diverged fails and another one replaces it.

    Returns completed, timeout, interrupted, or failing (a whole round of trials diverged: the space is off).
    """
    from antrenor.training.trainer import NonFiniteLoss

    deadline = time.monotonic() + plan.tune.timeout if plan.tune.timeout else None
    while (remaining := plan.tune.trials - _finished_count(study)) > 0:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            reporter.warn(f"timeout {plan.tune.timeout:g} s reached after {plan.tune.trials - remaining} of "
                          f"{plan.tune.trials} trials")
            return "timeout"
        try:
            study.optimize(_objective(plan, reporter), n_trials=remaining, timeout=left, catch=(NonFiniteLoss,),
                           gc_after_trial=True, callbacks=[partial(_after_trial, plan=plan, reporter=reporter)])
        except _SearchInterrupted:
            reporter.warn("interrupted: the unfinished trial is recorded as failed; run the same command to go on")
            return "interrupted"
        if plan.tune.trials - _finished_count(study) == remaining and (deadline is None or time.monotonic() < deadline):
            reporter.warn(f"all {remaining} trial(s) of this round failed (the loss diverged): "
                          "lower the high end of the space's lr range")
            return "failing"
    return "completed"


def quiet_optuna() -> None:
    """optuna logs every trial at INFO; antrenor reports them itself (for the CLI, like transformers' logs)."""
    try:
        import optuna
    except ImportError:
        return
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def _open_study(plan: SearchPlan, pruner: Any, reporter: Reporter) -> Any:
    import optuna
    from optuna.trial import TrialState

    from antrenor.tuning.pruning import build_pruner

    storage = f"sqlite:///{(plan.output / 'study.db').resolve()}"
    study = optuna.create_study(storage=storage, study_name=STUDY_NAME, direction=plan.direction, load_if_exists=True)
    search = json.loads(json.dumps(_search_fingerprint(plan)))
    recorded = study.user_attrs.get("search")
    if recorded is None:
        study.set_user_attr("search", search)
    elif recorded != search:
        differ = [key for key in search if recorded.get(key) != search[key]]
        raise ConfigError(f"{plan.output / 'study.db'} holds another search (different {', '.join(differ)}):",
                          problems=["choose another tune output, or delete that folder to start over"])
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(trial.number, state=TrialState.FAIL)
        reporter.warn(f"trial {trial.number} was cut off by an earlier interruption: recorded as failed, not counted")
    seed = plan.tune.seed + len(study.trials)  # a resumed search must not draw the first trials' values again
    if plan.tune.sampler == "random":
        sampler = optuna.samplers.RandomSampler(seed=seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(2, min(10, plan.tune.trials // 3)))
    return optuna.load_study(study_name=STUDY_NAME, storage=storage, sampler=sampler,
                             pruner=pruner if pruner is not None else build_pruner(plan.tune.pruner))


def _search_fingerprint(plan: SearchPlan) -> dict[str, Any]:
    """What makes trials comparable: a resumed study must have the same."""
    train = {k: v for k, v in plan.train.items() if k not in ("output", "resume")}
    space = {key: spec.model_dump(exclude_none=True, exclude_defaults=True) for key, spec in plan.space.items()}
    return {"metric": plan.metric, "direction": plan.direction, "space": space, "train section": train}


def _objective(plan: SearchPlan, reporter: Reporter):
    import optuna

    from antrenor.config import as_config
    from antrenor.training.config import TrainConfig
    from antrenor.training.run import train
    from antrenor.training.trainer import NonFiniteLoss
    from antrenor.tuning.pruning import PruningCallback

    def objective(trial: Any) -> float:
        values = suggest(trial, plan.space)
        cfg = as_config(TrainConfig, plan.trial_config(values, trial.number))
        trial.set_user_attr("output", cfg.output)
        if Path(cfg.output).exists():
            if not remove_own_folder(Path(cfg.output), "train"):
                raise ConfigError(f"{cfg.output} exists and is not a training run antrenor wrote: a trial would "
                                  "write there", problems=[f"move {cfg.output} away, or choose another tune output"])
            reporter.warn(f"{cfg.output} is left from an earlier study in this folder: replaced")
        position = _finished_count(trial.study) + 1
        reporter.info(f"[bold]trial {trial.number}[/] ({position} of {plan.tune.trials}): {report.format_params(values)}")
        pruning = PruningCallback(trial, plan.metric)
        try:
            result = train(cfg, reporter, callbacks=[pruning])
        except NonFiniteLoss as error:  # a normal outcome of a search: optuna records the trial as failed
            trial.set_user_attr("error", error.message)
            raise
        if result.status == "interrupted":
            raise _SearchInterrupted
        if pruning.pruned_at_step is not None:
            raise optuna.TrialPruned(f"pruned at step {pruning.pruned_at_step}")
        if plan.metric not in result.metrics:
            raise ConfigError(f"tune: metric {plan.metric} is not among the final metrics of trial {trial.number}: "
                              + ", ".join(k for k in result.metrics if k.startswith("eval_")))
        return float(result.metrics[plan.metric])

    return objective


def _after_trial(study: Any, trial: Any, *, plan: SearchPlan, reporter: Reporter) -> None:
    (row,) = report.trial_rows([trial])
    if row.state == "fail":
        reporter.warn(f"trial {row.number} failed: {row.user_attrs.get('error', 'see the error above')}; not counted")
    else:
        value = "" if row.value is None else f", {plan.metric} {row.value:.4g}"
        when = f" at step {row.last_step}" if row.state == "pruned" else ""
        reporter.info(f"trial {row.number}: {row.state}{when}{value} ({row.duration_s or 0:.0f} s)")
    if plan.tune.keep == "best":
        _remove_weights_but_best(study)


def _remove_weights_but_best(study: Any) -> None:
    from optuna.trial import TrialState

    best = _best_trial(study)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)):
        folder = Path(trial.user_attrs.get("output", ""))
        if (best is None or trial.number != best.number) and trial.user_attrs.get("output") and folder.is_dir():
            remove_weights(folder)


def remove_weights(folder: Path) -> None:
    """Delete a run's weights and checkpoints; its metrics.jsonl, manifest, curves and train_config.yaml stay."""
    if (folder / "checkpoints").is_dir():
        shutil.rmtree(folder / "checkpoints")
    for path in folder.iterdir():
        if path.is_file() and path.suffix in WEIGHT_SUFFIXES and path.name not in KEPT_FILES:
            path.unlink()


def _best_trial(study: Any) -> Any:
    from optuna.trial import TrialState

    return study.best_trial if study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) else None


def _finished_count(study: Any) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def _write_outputs(plan: SearchPlan, study: Any, status: str, reporter: Reporter) -> TuneResult:
    rows = report.trial_rows(study.get_trials(deepcopy=False))
    best_trial = _best_trial(study)
    best = next((row for row in rows if best_trial is not None and row.number == best_trial.number), None)
    output = plan.output
    trials_csv, report_md = output / "trials.csv", output / "tune_report.md"
    best_json, best_pipeline = (output / "best.json", output / "best_pipeline.yaml") if best else (None, None)
    report.write_trials_csv(trials_csv, rows, list(plan.space), plan.metric)
    if best is not None:
        header = [f"written by antrenor tune from {plan.source}: its train section holds the values of",
                  f"trial {best.number} of {len(rows)}, best by {plan.metric} = {best.value:.6g} ({plan.direction}):",
                  f"  {report.format_params(best.params)}",
                  f"study: {output / 'study.db'}; report: {report_md}"]
        write_text_atomic(best_pipeline, best_pipeline_text(plan.pipeline, best.params, header))
        report.write_best_json(best_json, best, plan.metric, plan.direction, best_pipeline)
    else:
        reporter.warn("no trial completed: there is no best trial, so no best.json or best_pipeline.yaml")
    markdown = report.tune_report_markdown(source=plan.source, output=output, metric=plan.metric, direction=plan.direction,
                                           space=plan.space, rows=rows, best=best, importances=_importances(study, plan),
                                           status=status)
    write_text_atomic(report_md, markdown)
    return TuneResult(output, status, plan.metric, plan.direction, plan.space, rows, best, trials_csv, report_md,
                      best_json, best_pipeline)


def _importances(study: Any, plan: SearchPlan) -> dict[str, float] | str:
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances
    from optuna.trial import TrialState

    complete = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    if complete < 4:
        return f"Not computed: {complete} complete trial(s); it needs at least 4."
    try:
        return get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=plan.tune.seed))
    except (ValueError, RuntimeError) as error:
        return f"Not computed: {error}"
