"""Terminal output: rich progress and tables for people, quiet and JSON modes for scripts.

One `Reporter` is passed down through a stage. Library code never prints directly:
it calls `reporter.info/warn/progress`, so `--quiet` and `--json` behave everywhere.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table


class Reporter:
    """Where a stage reports what it is doing.

    mode: "rich" (progress bars, tables), "quiet" (warnings and errors only) or
    "json" (nothing on stdout but the final JSON summary; messages go to stderr).
    """

    def __init__(self, mode: str = "rich", console: Console | None = None):
        if mode not in {"rich", "quiet", "json"}:
            raise ValueError(f"unknown reporter mode {mode!r}")
        self.mode = mode
        self.console = console or Console(stderr=mode != "rich", highlight=False)
        self.err_console = Console(stderr=True, highlight=False)
        self.warnings: list[str] = []

    def info(self, message: str) -> None:
        if self.mode == "rich":
            self.console.print(message)

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        if self.mode != "json":
            self.err_console.print(f"[yellow]warning:[/] {message}")

    @contextlib.contextmanager
    def progress(self, description: str, total: float | None = None) -> Iterator["ProgressTask"]:
        """A progress bar with ETA; `task.advance(n)` moves it. Silent unless mode is rich."""
        if self.mode != "rich":
            yield ProgressTask(None, None)
            return
        columns = [
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
        ]
        with Progress(*columns, console=self.console, transient=False) as bar:
            task_id = bar.add_task(description, total=total)
            yield ProgressTask(bar, task_id)

    def table(self, title: str, columns: list[str], rows: list[list[Any]]) -> None:
        if self.mode != "rich":
            return
        table = Table(title=title, title_justify="left")
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*[str(cell) for cell in row])
        self.console.print(table)

    def emit_json(self, payload: dict[str, Any]) -> None:
        if self.mode == "json":
            sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")


class ProgressTask:
    def __init__(self, bar: Progress | None, task_id: Any):
        self._bar = bar
        self._task_id = task_id

    def advance(self, amount: float = 1) -> None:
        if self._bar is not None:
            self._bar.advance(self._task_id, amount)

    def update(self, **fields: Any) -> None:
        if self._bar is not None:
            self._bar.update(self._task_id, **fields)


def reporter_for(args: Any) -> Reporter:
    """The reporter a command's --json / --quiet flags ask for (rich output otherwise)."""
    return Reporter("json" if args.json else "quiet" if args.quiet else "rich")
