"""What a search leaves in its output folder: trials.csv, tune_report.md, best.json."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from antrenor.reporting.files import write_json_atomic, write_text_atomic
from antrenor.tuning.config import ParamRange


@dataclass
class TrialRow:
    """One trial as the reports show it; `value` is the last reported one for a pruned trial."""

    number: int
    state: str  # complete, pruned, fail or running
    value: float | None
    params: dict[str, Any]
    duration_s: float | None
    output: str
    last_step: int | None = None
    user_attrs: dict[str, Any] = field(default_factory=dict)


def trial_rows(trials: list[Any]) -> list[TrialRow]:
    """Rows from optuna FrozenTrials, in trial order."""
    rows = []
    for trial in sorted(trials, key=lambda t: t.number):
        state = trial.state.name.lower()
        value = trial.value
        if value is None and trial.intermediate_values:
            value = trial.intermediate_values[trial.last_step]
        duration = trial.duration.total_seconds() if trial.duration is not None else None
        rows.append(TrialRow(trial.number, state, value, dict(trial.params), duration,
                             trial.user_attrs.get("output", ""), trial.last_step, dict(trial.user_attrs)))
    return rows


def format_params(params: dict[str, Any]) -> str:
    return ", ".join(f"{key}={_short(value)}" for key, value in params.items())


def write_trials_csv(path: Path, rows: list[TrialRow], keys: list[str], metric: str) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["trial", "state", metric, *keys, "duration_s", "last_step", "output"])
    for row in rows:
        writer.writerow([row.number, row.state, "" if row.value is None else repr(row.value),
                         *[row.params.get(key, "") for key in keys],
                         "" if row.duration_s is None else f"{row.duration_s:.1f}",
                         "" if row.last_step is None else row.last_step, row.output])
    write_text_atomic(path, buffer.getvalue())


def write_best_json(path: Path, best: TrialRow, metric: str, direction: str, best_pipeline: Path | None) -> None:
    write_json_atomic(path, {"trial": best.number, "metric": metric, "direction": direction, "value": best.value,
                             "params": best.params, "output": best.output,
                             "best_pipeline": str(best_pipeline) if best_pipeline else None})


def tune_report_markdown(*, source: str, output: Path, metric: str, direction: str, space: dict[str, ParamRange],
                         rows: list[TrialRow], best: TrialRow | None, importances: dict[str, float] | str,
                         status: str) -> str:
    counts = {state: sum(row.state == state for row in rows) for state in ("complete", "pruned", "fail")}
    lines = ["# Hyperparameter search", "",
             f"Pipeline: `{source}`; study: `{output / 'study.db'}` (run `antrenor tune` again to resume).",
             f"Metric: `{metric}` ({direction}), on the validation split. "
             f"Trials: {counts['complete']} complete, {counts['pruned']} pruned, {counts['fail']} failed"
             f"{'; the search was interrupted' if status == 'interrupted' else ''}.", ""]
    lines += ["## Best trial", ""]
    if best is None:
        lines += ["No trial completed: there is no best one yet.", ""]
    else:
        lines += [f"Trial {best.number}: `{metric}` = {best.value:.6g}; model in `{best.output}`.",
                  "`best_pipeline.yaml` is the pipeline with these values in its train section.", "",
                  "| key | value |", "|---|---|"]
        lines += [f"| `{key}` | {_short(value)} |" for key, value in best.params.items()]
        lines.append("")
    lines += ["## Search space", "", "| key | range |", "|---|---|"]
    lines += [f"| `{key}` | {spec.as_text()} |" for key, spec in space.items()]
    lines += ["", "## Trials", "", f"| trial | state | {metric} | " + " | ".join(f"`{k}`" for k in space) + " | duration |",
              "|---" * (len(space) + 4) + "|"]
    for row in rows:
        value = "" if row.value is None else f"{row.value:.6g}"
        state = f"pruned at step {row.last_step}" if row.state == "pruned" else row.state
        params = " | ".join(_short(row.params[key]) if key in row.params else "" for key in space)
        duration = "" if row.duration_s is None else f"{row.duration_s:.0f} s"
        lines.append(f"| {row.number} | {state} | {value} | {params} | {duration} |")
    lines += ["", "## Parameter importance", ""]
    if isinstance(importances, str):
        lines.append(importances)
    else:
        lines += ["fANOVA share of the metric's variance explained by each key (over the complete trials).", "",
                  "| key | importance |", "|---|---|"]
        lines += [f"| `{key}` | {share:.2f} |" for key, share in importances.items()]
    return "\n".join(lines) + "\n"


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
