"""run_report.html: one row per stage (status, time, headline result) linking to the stage's own report."""

from __future__ import annotations

import html
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
            + "".join(rows) + "</table></body></html>")
    write_text_atomic(path, page)
    return path


def _relative(target: Path, start: Path) -> str:
    return os.path.relpath(os.path.abspath(target), os.path.abspath(start))
