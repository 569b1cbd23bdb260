"""The three `antrenor human` verbs as functions: create a task, serve it, report on its ratings.

Example:
    >>> from antrenor.human.commands import create, report
    >>> task = create(["runs/demo/legal-sft/eval/predictions.jsonl"], "runs/human/titles", raters=["ana", "mihai"],
    ...               side_by_side=True)
    >>> # ... `antrenor human serve runs/human/titles`, raters rate ...
    >>> report("runs/human/titles")["html"]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from antrenor.console import Reporter
from antrenor.errors import ConfigError
from antrenor.human.store import RatingStore
from antrenor.human.task import CreatedTask, create_task, load_task, read_json
from antrenor.reporting.output_folder import OutputFolder, check_output, check_writable, read_marker

create = create_task
REPORT_STAGE = "human report"  # the marker's stage: messages say "the results of `antrenor human report`"


def rater_links(task: CreatedTask | str | Path, host: str = "127.0.0.1", port: int = 8010) -> dict[str, str]:
    """Each rater's personal link (it carries their token: send each rater only their own)."""
    tokens = task.raters if isinstance(task, CreatedTask) else read_json(task, "raters.json")
    return {name: f"http://{host}:{port}/r/{token}" for name, token in tokens.items()}


def serve(folder: str | Path, host: str = "127.0.0.1", port: int = 8010, reporter: Reporter | None = None) -> None:
    import uvicorn

    from antrenor.human.server import create_app

    reporter = reporter or Reporter("rich")
    app = create_app(folder)
    for name, link in rater_links(folder, host, port).items():
        reporter.info(f"{name}: {link}")
    reporter.info(f"ratings are saved as they come in {Path(folder) / 'ratings.sqlite'}; Ctrl-C stops the server")
    uvicorn.run(app, host=host, port=port, log_level="warning")


def report(folder: str | Path, output: str | Path | None = None, samples: int = 1000, seed: int = 0,
           overwrite: bool = False) -> dict[str, Path]:
    """The report of a task's ratings so far (model names restored), in `output` (default: TASK/report).

    The report folder follows the output-folder rule (docs/output-folders.md): marked `antrenor-stage.json`
    (stage `human report`, the task's task.json as its input); a folder holding another task's report, another
    stage's results or files antrenor did not write is refused unless `overwrite`, which still replaces only the
    report's own files."""
    task = load_task(folder)
    output = Path(output) if output else Path(folder) / "report"
    task_file = Path(folder) / "task.json"  # not the folder: the default output lies inside it
    check_report_output(output, task_file, overwrite)
    with OutputFolder(output, REPORT_STAGE, [task_file]):
        return _write_task_report(folder, task, output, samples, seed)


def check_report_output(output: Path, task_file: Path, overwrite: bool = False) -> None:
    """Refuse, before any work, an output the report may not write (every reason at once, with its fix)."""
    problems = [] if _earlier_report(output) else check_output(output, REPORT_STAGE, [task_file], overwrite)
    if problems:
        raise ConfigError("cannot start the human report:", problems=problems)
    check_writable(output)


def _earlier_report(output: Path) -> bool:
    """An unmarked folder holding only a human report of an antrenor older than the marker: its report.json (the
    summary, with its rating counts) and no file the report does not write. Names alone are not proof: a user's
    own report.html is not replaced without --overwrite."""
    import json

    from antrenor.human.report import FILES

    if read_marker(output) is not None or not output.is_dir():
        return False
    names = {p.relative_to(output).as_posix() for p in output.rglob("*") if p.is_file()}
    try:
        summary = json.loads((output / FILES["json"]).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(summary, dict) and "counts" in summary and names <= {*FILES.values(), "comments.csv"}


def _write_task_report(folder: str | Path, task: dict[str, Any], output: Path, samples: int, seed: int) -> dict[str, Path]:
    from antrenor.human.report import write_report

    names = read_json(folder, "systems.json")
    store = RatingStore(Path(folder) / "ratings.sqlite")
    items = {item["id"]: {"prompt": item["prompt"], "reference": item.get("reference"),
                          "answers": {names[system]: text for system, text in item["answers"].items()}}
             for item in task["items"]}
    ratings = [{**row, "system": names[row["system"]]} for row in store.all_ratings()]
    preferences = [{**row, "first": names[row["first"]], "second": names[row["second"]]} for row in store.all_preferences()]
    raters = list(read_json(folder, "raters.json"))
    paths = write_report(output, items, ratings, preferences, task["criteria"], raters, title=task["title"],
                         samples=samples, seed=seed)
    paths["comments_csv"] = _write_comments(output / "comments.csv", store.all_comments(), names)
    return paths


def _write_comments(path: Path, comments: list[dict[str, Any]], names: dict[str, str]) -> Path:
    """The raters' free-text comments: per page, the item and (single mode) the model the page showed."""
    import csv
    import io

    from antrenor.reporting.files import write_text_atomic

    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(["rater", "item", "model", "comment"])
    for row in comments:
        item, _, system = row["page"].partition(".")
        writer.writerow([row["rater"], item, names.get(system, ""), row["text"]])
    write_text_atomic(path, buffer.getvalue())  # an export of the ratings: never half a file
    return path


def task_summary(folder: str | Path) -> dict[str, Any]:
    """How far the rating has got: pages per rater done and in all."""
    from antrenor.human.plan import rater_pages
    from antrenor.human.server import done_pages

    task = load_task(folder)
    store = RatingStore(Path(folder) / "ratings.sqlite")
    raters = read_json(folder, "raters.json")
    return {name: {"done": len(done_pages(store, name, rater_pages(task, name))),
                   "pages": len(rater_pages(task, name))} for name in raters}
