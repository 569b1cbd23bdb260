"""`antrenor human ACTION`: the command-line side of the human evaluation (create, serve, report)."""

from __future__ import annotations

import argparse

from antrenor.console import Reporter


def reporter_for(args: argparse.Namespace) -> Reporter:
    from antrenor.console import reporter_for

    return reporter_for(args)


def add_human_actions(human: argparse.ArgumentParser, output: argparse.ArgumentParser) -> None:
    """create, serve and report under `antrenor human`; `output` carries --quiet/--json after the action."""
    actions = human.add_subparsers(dest="human_action", metavar="ACTION")
    create = actions.add_parser("create", parents=[output], help="a blind rating task from eval's predictions.jsonl files")
    create.add_argument("--predictions", metavar="FILE", action="append", required=True,
                        help="predictions.jsonl written by antrenor eval (repeatable; each may hold several models)")
    create.add_argument("--criteria", default="correctness,fluency,register,helpfulness",
                        help="comma-separated Likert criteria (default: correctness,fluency,register,helpfulness)")
    create.add_argument("--output", metavar="DIR", required=True, help="the task folder to create")
    create.add_argument("--raters", default="3", help="a number of raters, or their names separated by commas")
    create.add_argument("--models", help="comma-separated model labels to rate (default: all in the predictions)")
    create.add_argument("--side-by-side", action="store_true", dest="side_by_side",
                        help="show two models' answers together as A and B, and ask which is better")
    create.add_argument("--reference", action="store_true", help="show the reference answer to the raters")
    create.add_argument("--max-items", type=int, metavar="N", dest="max_items", help="rate a seeded sample of N prompts")
    create.add_argument("--seed", type=int, default=0, help="seed for sampling and for each rater's order")
    create.set_defaults(run=_run_human_create)
    serve = actions.add_parser("serve", parents=[output], help="the rating web app for a task (ratings saved to TASK/ratings.sqlite)")
    serve.add_argument("task", metavar="TASK")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8010, help="TCP port (default 8010)")
    serve.set_defaults(run=_run_human_serve)
    report = actions.add_parser("report", parents=[output], help="who won, by how much, and how much the raters agreed")
    report.add_argument("task", metavar="TASK")
    report.add_argument("--output", metavar="DIR", help="report folder (default TASK/report)")
    report.add_argument("--bootstrap-samples", type=int, default=1000, dest="samples", help="resamples for the CIs")
    report.set_defaults(run=_run_human_report)
    human.set_defaults(run=lambda args: _missing_action(human))


def _missing_action(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _run_human_create(args: argparse.Namespace) -> int:
    from antrenor.human.commands import create, rater_links

    raters = int(args.raters) if args.raters.isdigit() else [r.strip() for r in args.raters.split(",") if r.strip()]
    task = create(args.predictions, args.output, criteria=[c.strip() for c in args.criteria.split(",") if c.strip()],
                  raters=raters, side_by_side=args.side_by_side, show_reference=args.reference,
                  max_items=args.max_items, models=args.models.split(",") if args.models else None, seed=args.seed)
    reporter = reporter_for(args)
    reporter.info(f"task [bold]{task.folder}[/]: {task.items} prompts, {len(task.systems)} models "
                  f"({'side by side' if args.side_by_side else 'one answer a page'}), {len(task.raters)} raters")
    reporter.info(f"serve it: antrenor human serve {task.folder}; each rater's link (send each only their own):")
    links = rater_links(task)
    for name, link in links.items():
        reporter.info(f"  {name}: {link}")
    reporter.emit_json({"task": str(task.folder), "items": task.items, "links": links})
    return 0


def _run_human_serve(args: argparse.Namespace) -> int:
    from antrenor.human.commands import serve

    serve(args.task, host=args.host, port=args.port, reporter=reporter_for(args))
    return 0


def _run_human_report(args: argparse.Namespace) -> int:
    import json

    from antrenor.human.commands import report, task_summary
    from antrenor.human.report import verdict_sentences

    paths = report(args.task, args.output, samples=args.samples)
    reporter = reporter_for(args)
    progress = task_summary(args.task)
    reporter.table("rating progress", ["rater", "pages done"],
                   [[name, f"{p['done']} / {p['pages']}"] for name, p in progress.items()])
    summary = json.loads(paths["json"].read_text(encoding="utf-8"))
    for sentence in verdict_sentences(summary):
        reporter.info(sentence.replace("**", ""))
    reporter.info(f"report: [bold]{paths['html']}[/]; human preference pairs: {paths['preferences_jsonl']}")
    reporter.emit_json({key: str(path) for key, path in paths.items()})
    return 0
