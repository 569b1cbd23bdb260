"""run_report.html: one row per stage (status, time, headline result) linking to the stage's own report, and
five held-out examples with every evaluated model's answer side by side (the base, its baselines, the tuned)."""

from __future__ import annotations

import html
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from antrenor.reporting.blocks import STYLE
from antrenor.reporting.files import write_text_atomic


def write_run_report(path: Path, pipeline: Any, outcomes: list[Any]) -> Path:
    rows = []
    for outcome in outcomes:
        target = outcome.report or (outcome.output if outcome.output.exists() else None)
        link = (f"<a href='{html.escape(_relative(target, path.parent))}'>{html.escape(target.name)}</a>"
                if target is not None else "")
        seconds = f"{outcome.seconds:.0f} s" if outcome.status in ("ran", "failed", "interrupted") else ""
        rows.append(f"<tr><td>{outcome.name}</td><td class='{outcome.status.replace(' ', '-')}'>{outcome.status}</td>"
                    f"<td>{seconds}</td><td>{html.escape(outcome.summary)}</td><td>{link}</td></tr>")
    written = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    page = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>antrenor run: {html.escape(pipeline.path.name)}"
            f"</title><style>{STYLE}.ran{{color:#1a7f37}}.failed,.interrupted{{color:#b42318}}.cached{{color:#52606d}}</style>"
            f"</head><body><h1>antrenor run: {html.escape(str(pipeline.path))}</h1>"
            f"<p>Written {written}. Cached stages were skipped because neither their config nor the content of their "
            f"inputs changed; <code>antrenor run {html.escape(str(pipeline.path))} --force STAGE</code> reruns one. "
            f"The resolved configuration is in <a href='pipeline.resolved.yaml'>pipeline.resolved.yaml</a>.</p>"
            "<table><tr><th>stage</th><th>status</th><th>time</th><th>result</th><th>report</th></tr>"
            + "".join(rows) + "</table>" + examples_table(outcomes) + "</body></html>")
    write_text_atomic(path, page)
    return path


def _relative(target: Path, start: Path) -> str:
    return os.path.relpath(os.path.abspath(target), os.path.abspath(start))


EXAMPLES_SHOWN = 5


def held_out_examples(predictions: Path, count: int = EXAMPLES_SHOWN) -> tuple[list[str], list[list[str]]]:
    """(headers, rows): the first `count` evaluated examples, input and reference, then each model's answer."""
    by_model: dict[str, list[dict[str, Any]]] = {}
    for line in predictions.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            by_model.setdefault(row["model"], []).append(row)
    if not by_model:
        return [], []
    shown = min(count, *(len(rows) for rows in by_model.values()))
    first = next(iter(by_model.values()))
    rows = []
    for index in range(shown):
        asked = first[index].get("prompt", first[index].get("input", ""))
        rows.append([_cut(str(asked)), str(first[index].get("reference", ""))]
                    + [str(by_model[model][index].get("prediction", "")) for model in by_model])
    return ["held-out input", "reference", *by_model], rows


def examples_table(outcomes: list[Any]) -> str:
    evaluation = next((o for o in outcomes if o.name == "eval" and o.status in ("ran", "cached")), None)
    predictions = evaluation.output / "predictions.jsonl" if evaluation else None
    if predictions is None or not predictions.is_file():
        return ""
    headers, rows = held_out_examples(predictions)
    if not rows:
        return ""
    cells = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return (f"<h2>{len(rows)} held-out examples, every model side by side</h2>"
            "<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in headers) + "</tr>" + cells + "</table>")


def _cut(text: str, limit: int = 240) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
