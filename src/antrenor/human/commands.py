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
from antrenor.human.store import RatingStore
from antrenor.human.task import CreatedTask, create_task, load_task, read_json

create = create_task


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


def report(folder: str | Path, output: str | Path | None = None, samples: int = 1000, seed: int = 0) -> dict[str, Path]:
    """The report of a task's ratings so far (model names restored), in `output` (default: TASK/report)."""
    from antrenor.human.report import write_report

    task = load_task(folder)
    names = read_json(folder, "systems.json")
    store = RatingStore(Path(folder) / "ratings.sqlite")
    items = {item["id"]: {"prompt": item["prompt"], "reference": item.get("reference"),
                          "answers": {names[system]: text for system, text in item["answers"].items()}}
             for item in task["items"]}
    ratings = [{**row, "system": names[row["system"]]} for row in store.all_ratings()]
    preferences = [{**row, "first": names[row["first"]], "second": names[row["second"]]} for row in store.all_preferences()]
    raters = list(read_json(folder, "raters.json"))
    output = Path(output) if output else Path(folder) / "report"
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
