"""`antrenor human ACTION`: the command-line side of the human evaluation (create, serve, report)."""

from __future__ import annotations

import argparse

from antrenor.config import load_config
from antrenor.console import reporter_for
from antrenor.human.config import HumanCreateConfig, HumanReportConfig, HumanServeConfig


def add_human_actions(human: argparse.ArgumentParser, output: argparse.ArgumentParser,
                      configured: argparse.ArgumentParser) -> None:
    """create, serve and report under `antrenor human`; `output` carries --quiet/--json after the action,
    `configured` --config/--set (the keys of human/config.py's configs)."""
    actions = human.add_subparsers(dest="human_action", metavar="ACTION")
    create = actions.add_parser("create", parents=[output, configured],
                                help="a blind rating task from eval's predictions.jsonl files")
    create.add_argument("--predictions", metavar="FILE", action="append",
                        help="predictions.jsonl written by antrenor eval (repeatable; each may hold several models)")
    create.add_argument("--criteria",
                        help="comma-separated Likert criteria (default: correctness,fluency,register,helpfulness)")
    create.add_argument("--output", metavar="DIR", help="the task folder to create")
    create.add_argument("--raters", help="a number of raters, or their names separated by commas (default 3)")
    create.add_argument("--models", help="comma-separated model labels to rate (default: all in the predictions)")
    create.add_argument("--side-by-side", action="store_true", default=None, dest="side_by_side",
                        help="show two models' answers together as A and B, and ask which is better")
    create.add_argument("--reference", action="store_true", default=None, dest="show_reference",
                        help="show the reference answer to the raters")
    create.add_argument("--max-items", type=int, metavar="N", dest="max_items", help="rate a seeded sample of N prompts")
    create.add_argument("--seed", type=int, help="seed for sampling and for each rater's order (default 0)")
    create.set_defaults(run=_run_human_create)
    serve = actions.add_parser("serve", parents=[output, configured], help="the rating web app for a task (ratings saved to TASK/ratings.sqlite)")
    serve.add_argument("task", metavar="TASK", nargs="?")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="TCP port (default 8010)")
    serve.set_defaults(run=_run_human_serve)
    report = actions.add_parser("report", parents=[output, configured], help="who won, by how much, and how much the raters agreed")
    report.add_argument("task", metavar="TASK", nargs="?")
    report.add_argument("--output", metavar="DIR", help="report folder (default TASK/report)")
    report.add_argument("--bootstrap-samples", type=int, dest="bootstrap_samples", help="resamples for the CIs (default 1000)")
    report.add_argument("--overwrite", action="store_true", default=None,
                        help="write into a report folder holding other results or files antrenor did not write "
                             "(only the report's files are replaced; nothing else is deleted; docs/output-folders.md)")
    report.set_defaults(run=_run_human_report)
    human.set_defaults(run=lambda args: _missing_action(human))


def _missing_action(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _comma_list(value: str | None) -> list[str] | None:
    return [part.strip() for part in value.split(",") if part.strip()] if value is not None else None


def _run_human_create(args: argparse.Namespace) -> int:
    from antrenor.human.commands import rater_links
    from antrenor.human.task import create_task_from

    raters = (int(args.raters) if args.raters.isdigit() else _comma_list(args.raters)) if args.raters else None
    flags = {"predictions": args.predictions, "output": args.output, "criteria": _comma_list(args.criteria),
             "raters": raters, "side_by_side": args.side_by_side, "show_reference": args.show_reference,
             "max_items": args.max_items, "models": _comma_list(args.models), "seed": args.seed}
    cfg = load_config(HumanCreateConfig, args.config, args.overrides, flags)
    task = create_task_from(cfg)
    reporter = reporter_for(args)
    reporter.info(f"task [bold]{task.folder}[/]: {task.items} prompts, {len(task.systems)} models "
                  f"({'side by side' if cfg.side_by_side else 'one answer a page'}), {len(task.raters)} raters")
    reporter.info(f"serve it: antrenor human serve {task.folder}; each rater's link (send each only their own):")
    links = rater_links(task)
    for name, link in links.items():
        reporter.info(f"  {name}: {link}")
    reporter.emit_json({"task": str(task.folder), "items": task.items, "links": links})
    return 0


def _run_human_serve(args: argparse.Namespace) -> int:
    from antrenor.human.commands import serve

    cfg = load_config(HumanServeConfig, args.config, args.overrides, {"task": args.task, "host": args.host, "port": args.port})
    serve(cfg.task, host=cfg.host, port=cfg.port, reporter=reporter_for(args))
    return 0


def _run_human_report(args: argparse.Namespace) -> int:
    import json

    from antrenor.human.commands import report, task_summary
    from antrenor.human.report import verdict_sentences

    cfg = load_config(HumanReportConfig, args.config, args.overrides,
                      {"task": args.task, "output": args.output, "bootstrap_samples": args.bootstrap_samples,
                       "overwrite": args.overwrite})
    paths = report(cfg.task, cfg.output, samples=cfg.bootstrap_samples, seed=cfg.seed, overwrite=cfg.overwrite)
    reporter = reporter_for(args)
    progress = task_summary(cfg.task)
    reporter.table("rating progress", ["rater", "pages done"],
                   [[name, f"{p['done']} / {p['pages']}"] for name, p in progress.items()])
    summary = json.loads(paths["json"].read_text(encoding="utf-8"))
    for sentence in verdict_sentences(summary):
        reporter.info(sentence.replace("**", ""))
    reporter.info(f"report: [bold]{paths['html']}[/]; human preference pairs: {paths['preferences_jsonl']}")
    reporter.emit_json({key: str(path) for key, path in paths.items()})
    return 0
