"""The pipeline YAML: one section per stage, validated all at once before any stage runs.

    prepare: {...}   train: {...}   eval: {...}   export: {...}   serve: {...}   run: {...}

Sections are optional, but the ones present must be valid. `monitor` and `tune` sections may live
in the same file (read by `antrenor monitor` / `antrenor tune`); `antrenor run` leaves them alone.
Overrides address a section with a dotted key: `--set train.lr=1e-4`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from antrenor.config import (
    StageConfig,
    StrictModel,
    deep_merge,
    format_validation_errors,
    parse_override,
    read_yaml_section,
)
from antrenor.errors import ConfigError

STAGE_ORDER = ("prepare", "train", "eval", "export")
OTHER_SECTIONS = ("serve", "monitor", "tune", "run")


class RunConfig(StageConfig):
    """How `antrenor run` runs the pipeline (the `run:` section; every key optional)."""

    stage = "run"
    output: str | None = Field(None, description="Folder for run_state.json and run_report.html; default: runs/<YAML file name>.")
    stages: list[str] = Field(default_factory=lambda: list(STAGE_ORDER),
                              description="Stages to run, in pipeline order: a subset of prepare, train, eval, export.")
    serve: bool = Field(False, description="After export, serve the `serve` section's model until stopped (same as --serve).")
    overwrite: bool = Field(False, description="Set `overwrite` for every stage of this run (same as --overwrite): each "
                            "may write into an output folder holding other results or files antrenor did not write; "
                            "only its own files are replaced, nothing else is deleted (docs/output-folders.md).")


def stage_classes() -> dict[str, type[StageConfig]]:
    from antrenor.data.config import PrepareConfig
    from antrenor.evaluation.config import EvalConfig
    from antrenor.export.config import ExportConfig
    from antrenor.serve.config import ServeConfig
    from antrenor.training.config import TrainConfig

    return {"prepare": PrepareConfig, "train": TrainConfig, "eval": EvalConfig, "export": ExportConfig,
            "serve": ServeConfig, "run": RunConfig}


@dataclass
class Pipeline:
    path: Path
    stages: dict[str, StageConfig]  # validated sections, pipeline order
    run: RunConfig
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def output(self) -> Path:
        return Path(self.run.output) if self.run.output else Path("runs") / self.path.stem

    def planned(self) -> list[str]:
        return [name for name in STAGE_ORDER if name in self.stages and name in self.run.stages]


def load_pipeline(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Pipeline:
    """Read and validate every section; raise one ConfigError listing every problem."""
    path = Path(path)
    problems: list[str] = []
    raw = _read(path, problems)
    for item in overrides:
        parsed = parse_override(item, problems)
        if parsed is not None:
            if len(parsed) == 1 and not isinstance(next(iter(parsed.values())), dict):
                problems.append(f"--set {item!r}: name the section, e.g. --set train.lr=1e-4")
            else:
                deep_merge(raw, parsed)
    known = STAGE_ORDER + OTHER_SECTIONS
    for name in raw:
        if name not in known:
            close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(f"{path}: unknown section '{name}'{hint}; sections: {', '.join(known)}")
    classes = stage_classes()
    validated: dict[str, StageConfig] = {}
    for name, cls in classes.items():
        section = raw.get(name)
        if section is None:
            continue
        if not isinstance(section, dict):
            problems.append(f"{path}: section '{name}' must be a mapping of keys to values")
            continue
        try:
            validated[name] = cls.model_validate(section)
        except ValidationError as exc:
            problems += [f"{name}: {message}" for message in format_validation_errors(exc, cls)]
    run = validated.pop("run", None) or RunConfig()
    problems += _check_stage_names(run)
    if not any(name in validated for name in STAGE_ORDER) and not problems:
        problems.append(f"{path}: no stage section to run; add at least one of {', '.join(STAGE_ORDER)}")
    if problems:
        raise ConfigError(f"the pipeline {path} has {len(problems)} problem(s):", problems=problems)
    ordered = {name: validated[name] for name in (*STAGE_ORDER, "serve") if name in validated}
    if run.overwrite:  # one switch for the whole run, rather than --set <stage>.overwrite=true per stage
        ordered.update({name: ordered[name].model_copy(update={"overwrite": True})
                        for name in STAGE_ORDER if name in ordered})
    pipeline = Pipeline(path, ordered, run, raw)
    links = check_links(pipeline)
    if links:
        raise ConfigError(f"the pipeline {path} has {len(links)} problem(s):", problems=links)
    return pipeline


def check_links(pipeline: Pipeline) -> list[str]:
    """A stage that reads a folder no earlier stage writes, and that does not exist: caught now, not an hour in."""
    written: dict[str, str] = {}
    problems = []
    for name in pipeline.planned():
        cfg = pipeline.stages[name]
        for key, value in _reads(name, cfg):
            if value not in written.values() and not Path(value).exists():
                writers = ", ".join(f"{stage}.output = {out}" for stage, out in written.items()) or "no earlier stage"
                problems.append(f"{name}.{key} = {value} does not exist and no earlier stage writes it ({writers})")
        written[name] = str(getattr(cfg, "output"))
    if pipeline.run.serve and "serve" not in pipeline.stages:
        problems.append("run.serve (or --serve) needs a `serve` section naming the model to serve")
    return problems


def _reads(name: str, cfg: StageConfig) -> list[tuple[str, str]]:
    """The folders a stage reads that an earlier stage may write (aliases and hub ids left out)."""
    if name == "train":
        reads = [("data", cfg.data)]
    elif name == "eval":
        reads = [("data", cfg.data)] + [("models", m) for m in cfg.models]
    elif name == "export":
        reads = [("model", cfg.model)] + ([("eval", cfg.eval)] if cfg.eval else [])
    else:
        reads = []
    return [(key, value) for key, value in reads if not _names_a_hub_model(value)]


def _names_a_hub_model(value: str) -> bool:
    """An alias, or owner/name that is not a local path: resolved by transformers, not by an earlier stage."""
    from antrenor.models.registry import HUB_ID, REGISTRY

    return value in REGISTRY or (not Path(value).exists() and bool(HUB_ID.match(value)))


def _check_stage_names(run: RunConfig) -> list[str]:
    return [f"run.stages: unknown stage {name!r}; choose from {', '.join(STAGE_ORDER)}"
            for name in run.stages if name not in STAGE_ORDER]


def _read(path: Path, problems: list[str]) -> dict[str, Any]:
    if not path.is_file():
        problems.append(f"pipeline file {path} does not exist (write a starter one with: antrenor init)")
        return {}
    return read_yaml_section(path, "", problems)  # stage "": every section


__all__ = ["Pipeline", "RunConfig", "STAGE_ORDER", "load_pipeline", "check_links", "StrictModel"]
