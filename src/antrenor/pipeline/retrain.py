"""Closing the loop after drift: retraining with the production inputs people labelled.

The monitor stage writes `to_label.jsonl` (monitoring/labelling.py). Once someone fills it in and the
monitor config says `labelled: PATH`, a monitor run that finds drift retrains: the pipeline YAML's `prepare`
section with the labelled records appended to its inputs, then its `train` section on the result,
both into a new `retrain-<UTC time>` folder under the monitor's output. Records still unlabelled
are left out (an empty label would otherwise become a class of its own). Relative paths in the
pipeline YAML are relative to the working directory, as for `antrenor prepare --config`.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from antrenor.config import as_config, load_config
from antrenor.console import Reporter
from antrenor.errors import ConfigError
from antrenor.monitoring.config import MonitorConfig
from antrenor.monitoring.labelling import is_labelled
from antrenor.monitoring.run import MonitorResult, monitor
from antrenor.reporting.files import write_jsonl_atomic


def check_pipeline(path: Path) -> list[str]:
    """Problems with the retraining YAML, found before the monitor reads anything."""
    from antrenor.data.config import PrepareConfig
    from antrenor.training.config import TrainConfig

    if not path.is_file():
        return [f"retrain pipeline {path} does not exist"]
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        return [f"retrain pipeline {path}: invalid YAML: {exc}"]
    missing = [name for name in ("prepare", "train") if not isinstance(data, dict) or not isinstance(data.get(name), dict)]
    if missing:
        return [f"retrain pipeline {path} needs a {' and a '.join(missing)} section (retraining runs prepare then train)"]
    problems = []
    for cls, flags in ((PrepareConfig, {"output": "-"}), (TrainConfig, {"data": "-", "output": "-"})):
        try:
            load_config(cls, path, flags=flags)
        except ConfigError as error:
            problems += [f"retrain pipeline {path}, {cls.stage}: {p}" for p in error.problems or [error.message]]
    return problems


def retrain(pipeline: Path, labelled: str | None, kind: str, output: Path, reporter: Reporter) -> dict[str, Any]:
    """Prepare (original inputs + labelled records) and train into output/retrain-<time>; a summary for drift.json."""
    if not labelled:
        return _skipped(reporter, "no labelled data: label to_label.jsonl and set labelled: PATH in the monitor config")
    if not Path(labelled).is_file():
        return _skipped(reporter, f"labelled file {labelled} does not exist yet: label to_label.jsonl and save it there")
    records, unreadable = _read_jsonl(Path(labelled))
    kept = [{k: v for k, v in r.items() if k != "request_id"} for r in records if is_labelled(r, kind)]
    if not kept:
        return _skipped(reporter, f"{labelled} holds no labelled {kind} record yet")
    folder = output / f"retrain-{datetime.now(timezone.utc).strftime('%Y%m%d-%H%M%S')}"
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl_atomic(folder / "labelled.jsonl", kept)
    reporter.info(f"retraining with {len(kept)} labelled production inputs into [bold]{folder}[/]")

    from antrenor.data.config import PrepareConfig
    from antrenor.data.prepare import prepare
    from antrenor.training.config import TrainConfig
    from antrenor.training.run import train

    inputs = (yaml.safe_load(pipeline.read_text(encoding="utf-8"))["prepare"]).get("input", [])
    inputs = [inputs] if isinstance(inputs, str) else list(inputs)
    prepare_cfg = load_config(PrepareConfig, pipeline, flags={"input": [*inputs, str(folder / "labelled.jsonl")],
                                                               "output": str(folder / "data")})
    prepared = prepare(prepare_cfg, reporter)
    train_cfg = load_config(TrainConfig, pipeline, flags={"data": str(folder / "data"), "output": str(folder / "model")})
    trained = train(train_cfg, reporter)
    metrics = {k: v for k, v in trained.metrics.items() if isinstance(v, (int, float))}
    return {"status": trained.status, "folder": str(folder), "data": str(prepared.output), "model": str(trained.output),
            "labelled_records": len(kept), "unlabelled_skipped": len(records) - len(kept), "unreadable_lines": unreadable,
            "splits": prepared.splits, "metrics": metrics}


def _skipped(reporter: Reporter, reason: str) -> dict[str, Any]:
    reporter.warn(f"retraining skipped: {reason}")
    return {"status": "skipped", "reason": reason}


def _read_jsonl(path: Path) -> tuple[list[dict[str, Any]], int]:
    records, unreadable = [], 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            unreadable += 1
            continue
        if isinstance(value, dict):
            records.append(value)
        else:
            unreadable += 1
    return records, unreadable


class PipelineRetrainer:
    """The monitor stage's Retrainer: the prepare and train sections of a pipeline YAML, on the original
    inputs plus the labelled records."""

    def __init__(self, pipeline: str | Path, labelled: str | None):
        self.pipeline, self.labelled = Path(pipeline), labelled

    def problems(self) -> list[str]:
        return check_pipeline(self.pipeline)

    def __call__(self, kind: str, output: Path, reporter: Reporter) -> dict[str, Any]:
        return retrain(self.pipeline, self.labelled, kind, output, reporter)


def monitor_and_retrain(config: MonitorConfig | dict[str, Any] | str | Path, reporter: Reporter | None = None) -> MonitorResult:
    """`antrenor monitor`: the drift checks, and on drift the retraining its `retrain` pipeline asks for."""
    cfg = as_config(MonitorConfig, config)
    retrainer = PipelineRetrainer(cfg.retrain, cfg.labelled) if cfg.retrain else None
    return monitor(cfg, reporter, retrainer)
