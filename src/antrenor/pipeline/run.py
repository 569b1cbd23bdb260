"""`antrenor run pipeline.yaml`: prepare -> train -> eval -> export from one YAML, each stage cached.

A stage is skipped when its output folder holds a completion stamp for the same key (see
fingerprint.py); `force` reruns the named stages, and whatever follows them reruns because
its inputs changed. An interrupted run continues where it stopped: finished stages are
cached, and an interrupted `train` resumes from its last complete checkpoint. Every run
writes `run_state.json` and `run_report.html` (links to each stage's own report) in the run
folder, and the terminal gets one summary table.

    >>> from antrenor.pipeline import run_pipeline
    >>> result = run_pipeline("examples/legal-sft.yaml", force=["eval"])
    >>> result.report_html
    PosixPath('runs/legal-sft/run_report.html')
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from antrenor.config import save_resolved_config
from antrenor.console import Reporter
from antrenor.errors import AntrenorError, ConfigError
from antrenor.pipeline.config import STAGE_ORDER, Pipeline, load_pipeline
from antrenor.pipeline.fingerprint import read_stamp, stage_key, write_stamp
from antrenor.pipeline.report import write_run_report
from antrenor.pipeline.stages import StageRun, run_stage
from antrenor.reporting.files import write_json_atomic, write_text_atomic
from antrenor.reporting.output_folder import check_writable, clear_completion, remove_own_folder

STATE_FILE = "run_state.json"


@dataclass
class StageOutcome:
    name: str
    status: str  # "ran", "cached", "interrupted", "failed" or "not run"
    seconds: float
    output: Path
    report: Path | None = None
    summary: str = ""
    key: str = ""
    error: AntrenorError | None = field(default=None, repr=False)

EXIT_NO_GAIN = 3


@dataclass
class RunResult:
    pipeline: Pipeline
    outcomes: list[StageOutcome] = field(default_factory=list)
    report_html: Path | None = None

    @property
    def exit_code(self) -> int:
        """0 done; 3 done, but a tuned model did not significantly beat its strongest baseline (eval's verdict, so
        a script or CI can stop a model that is no better than what the user had); 1 a stage failed; 130 interrupted."""
        statuses = {o.status for o in self.outcomes}
        if "interrupted" in statuses or "failed" in statuses:
            return 130 if "interrupted" in statuses else 1
        return EXIT_NO_GAIN if self.verdicts() and not all(v["significant"] for v in self.verdicts().values()) else 0

    def verdicts(self) -> dict[str, dict[str, Any]]:
        """Each tuned model's verdict against its strongest baseline, from the eval stage's metrics.json."""
        evaluation = next((o for o in self.outcomes if o.name == "eval" and o.status in ("ran", "cached")), None)
        path = evaluation.output / "metrics.json" if evaluation else None
        if path is None or not path.is_file():
            return {}
        models = json.loads(path.read_text(encoding="utf-8")).get("models", {})
        return {label: entry["vs_strongest_baseline"] for label, entry in models.items() if entry.get("vs_strongest_baseline")}

    def outcome(self, name: str) -> StageOutcome:
        return next(o for o in self.outcomes if o.name == name)


def run_pipeline(path: str | Path, overrides: list[str] | tuple[str, ...] = (), force: list[str] | tuple[str, ...] = (),
                 reporter: Reporter | None = None, serve: bool = False, overwrite: bool = False) -> RunResult:
    """Run the pipeline's planned stages; `overwrite` (--overwrite, `run.overwrite`) sets overwrite for each of them."""
    reporter = reporter or Reporter("quiet")
    pipeline = load_pipeline(path, [*overrides, *(["run.overwrite=true"] if overwrite else [])])
    forced = _forced_stages(force, pipeline)
    output = pipeline.output
    check_writable(output)
    output.mkdir(parents=True, exist_ok=True)
    save_resolved_pipeline(pipeline, output / "pipeline.resolved.yaml")
    state = _read_state(output)
    result = RunResult(pipeline)
    cache: dict[str, str] = {}
    try:
        for name in pipeline.planned():
            outcome = _run_one(name, pipeline, state, forced, cache, reporter)
            result.outcomes.append(outcome)
            write_json_atomic(output / STATE_FILE, state)
            if outcome.status != "ran" and outcome.status != "cached":
                break
    finally:
        done = {o.name for o in result.outcomes}
        result.outcomes += [StageOutcome(n, "not run", 0.0, Path(str(pipeline.stages[n].output)))
                            for n in pipeline.planned() if n not in done]
        result.report_html = write_run_report(output / "run_report.html", pipeline, result.outcomes)
        write_json_atomic(output / STATE_FILE, state)
        _print_summary(result, reporter)
    failed = next((o for o in result.outcomes if o.error is not None), None)
    if failed is not None:
        raise failed.error
    if result.exit_code == 0 and (serve or pipeline.run.serve):
        from antrenor.serve.run import serve as serve_model

        serve_model(pipeline.stages["serve"], reporter)
    return result


def _run_one(name: str, pipeline: Pipeline, state: dict[str, Any], forced: set[str], cache: dict[str, str],
             reporter: Reporter) -> StageOutcome:
    cfg = pipeline.stages[name]
    output = Path(str(cfg.output))
    key = stage_key(name, _keyed_config(cfg), str(cfg.output), cache)
    previous = state["stages"].get(name, {})
    stamp = read_stamp(output)
    if name not in forced and stamp is not None and stamp["key"] == key and stamp["stage"] == name:
        reporter.info(f"[bold]{name}[/]: unchanged since {stamp['finished'][:19]}, skipped (--force {name} reruns it)")
        return StageOutcome(name, "cached", 0.0, output, _path(previous.get("report")), previous.get("summary", ""), key)

    cfg = _prepare_output(name, cfg, output, key, previous, forced, reporter)
    state["stages"][name] = {"key": key, "status": "running", "started": _now(), "output": str(output)}
    write_json_atomic(pipeline.output / STATE_FILE, state)
    reporter.info(f"[bold]{name}[/] ...")
    started = time.perf_counter()
    try:
        ran: StageRun = run_stage(name, cfg, reporter)
    except KeyboardInterrupt:
        ran = StageRun(status="interrupted")
    except AntrenorError as error:
        seconds = time.perf_counter() - started
        state["stages"][name].update(status="failed", seconds=round(seconds, 1), finished=_now(), error=str(error))
        return StageOutcome(name, "failed", seconds, output, summary=str(error).splitlines()[0], key=key, error=error)
    seconds = time.perf_counter() - started
    if ran.status == "completed":
        write_stamp(output, name, key)
        status = "ran"
    else:
        status = "interrupted"
        reporter.warn(f"{name} was interrupted; run the same command again to continue where it stopped")
    state["stages"][name].update(status=status, seconds=round(seconds, 1), finished=_now(),
                                 report=str(ran.report) if ran.report else None, summary=ran.summary)
    return StageOutcome(name, status, seconds, output, ran.report, ran.summary, key)


def _prepare_output(name, cfg, output: Path, key: str, previous: dict, forced: set[str], reporter: Reporter):
    """Mark the output unfinished; for train, resume an interrupted run of the same key or set the old run aside."""
    clear_completion(output)  # the stage's own marker stays: it says whose folder this is
    if name != "train" or not (output / "checkpoints").is_dir():
        return cfg
    same_run = previous.get("key") == key and previous.get("status") in {"running", "interrupted"}
    if same_run and name not in forced:
        reporter.info("train: continuing the interrupted run from its last complete checkpoint")
        return cfg.model_copy(update={"resume": True})
    aside = output.with_name(output.name + ".previous")
    if aside.exists() and not remove_own_folder(aside, "train"):
        raise ConfigError(f"train: {output} holds an earlier run with other settings, and {aside}, where it would be "
                          "set aside, holds something antrenor did not write there",
                          problems=[f"move {aside} away, or rerun with --force train after choosing another train.output"])
    output.rename(aside)
    reporter.warn(f"train: {output} held an earlier run with other settings; moved it to {aside}")
    return cfg


def _keyed_config(cfg) -> dict[str, Any]:
    data = cfg.model_dump(mode="json")
    data.pop("resume", None)  # how to get there, not where: a resumed run has the same key
    data.pop("overwrite", None)
    return data


def _forced_stages(force, pipeline: Pipeline) -> set[str]:
    names = set()
    for item in force:
        names.update(part.strip() for part in str(item).split(",") if part.strip())
    if "all" in names:
        return set(STAGE_ORDER)
    unknown = sorted(names - set(STAGE_ORDER))
    if unknown:
        raise ConfigError(f"--force: unknown stage(s) {', '.join(unknown)}; choose from {', '.join(STAGE_ORDER)} or all")
    not_planned = sorted(names - set(pipeline.planned()))
    if not_planned:
        raise ConfigError(f"--force: {', '.join(not_planned)} not in this pipeline (it runs {', '.join(pipeline.planned())})")
    return names


def save_resolved_pipeline(pipeline: Pipeline, path: Path) -> None:
    import yaml

    data = {name: cfg.model_dump(mode="json") for name, cfg in pipeline.stages.items()}
    data["run"] = pipeline.run.model_dump(mode="json")
    write_text_atomic(path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def _read_state(output: Path) -> dict[str, Any]:
    import json

    try:
        state = json.loads((output / STATE_FILE).read_text(encoding="utf-8"))
        if isinstance(state, dict) and isinstance(state.get("stages"), dict):
            return state
    except (OSError, ValueError):
        pass
    return {"stages": {}}


def _print_summary(result: RunResult, reporter: Reporter) -> None:
    rows = [[o.name, o.status, f"{o.seconds:.0f} s" if o.status == "ran" else "", o.summary, str(o.report or o.output)]
            for o in result.outcomes]
    reporter.table("pipeline", ["stage", "status", "time", "result", "report"], rows)
    from antrenor.evaluation.compare import verdict_sentence

    for label, verdict in result.verdicts().items():
        (reporter.info if verdict["significant"] else reporter.warn)(verdict_sentence(label, verdict))
    if result.report_html:
        reporter.info(f"run report: [bold]{result.report_html}[/]")
    reporter.emit_json({"report": str(result.report_html), "exit_code": result.exit_code,
                        "stages": [{"stage": o.name, "status": o.status, "seconds": round(o.seconds, 1),
                                    "summary": o.summary, "report": str(o.report) if o.report else None,
                                    "output": str(o.output)} for o in result.outcomes]})


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


__all__ = ["RunResult", "StageOutcome", "run_pipeline", "save_resolved_config"]
