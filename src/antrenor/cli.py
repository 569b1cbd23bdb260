"""The `antrenor` command: one verb per stage. Parses, calls the library, prints. No logic.

Exit codes: 0 success, 1 failure, 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from antrenor.config import describe_fields, load_config
from antrenor.console import Reporter
from antrenor.errors import AntrenorError


def config_reference(config_class) -> str:
    rows = describe_fields(config_class)
    width = max(len(key) for key, *_ in rows)
    lines = ["config keys (YAML, or --set key=value; nested keys with dots):"]
    for key, type_name, default, description in rows:
        shown = "" if type_name == "section" else f" [{type_name}, default {default}]"
        lines.append(f"  {key.ljust(width)}  {description}{shown}")
    return "\n".join(lines)


def _output_flags() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    mode = parent.add_mutually_exclusive_group()
    mode.add_argument("--quiet", action="store_true", help="print only warnings and errors")
    mode.add_argument("--json", action="store_true", help="print one JSON summary on stdout (for scripts)")
    return parent


def _config_flags() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--config", metavar="FILE", help="YAML config (the stage's keys, or a pipeline YAML with a section per stage)")
    parent.add_argument("--set", metavar="KEY=VALUE", action="append", default=[], dest="overrides",
                        help="override one config key, e.g. --set dedup.threshold=0.9 (repeatable)")
    return parent


def build_parser() -> argparse.ArgumentParser:
    from antrenor.data.config import PrepareConfig

    parser = argparse.ArgumentParser(prog="antrenor", description="Turn a pretrained model into a specialist, end to end.")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    verbs.required = True
    output, configured = _output_flags(), _config_flags()

    from antrenor.pipeline import run as pipeline_run
    from antrenor.pipeline.config import RunConfig

    run = verbs.add_parser(
        "run", parents=[output], formatter_class=argparse.RawDescriptionHelpFormatter,
        help="run prepare -> train -> eval -> export from one pipeline YAML, skipping unchanged stages",
        description=pipeline_run.__doc__,
        epilog=config_reference(RunConfig))
    run.add_argument("pipeline", metavar="PIPELINE_YAML", help="a YAML with a section per stage (antrenor init writes one)")
    run.add_argument("--force", action="append", default=[], metavar="STAGE",
                     help="rerun this stage even if unchanged, and what follows it (repeatable; 'all' for every stage)")
    run.add_argument("--set", metavar="SECTION.KEY=VALUE", action="append", default=[], dest="overrides",
                     help="override one key of one section, e.g. --set train.lr=1e-4 (repeatable)")
    run.add_argument("--serve", action="store_true", help="after export, serve the `serve` section's model until stopped")
    run.set_defaults(run=_run_pipeline)

    init = verbs.add_parser("init", help="write a commented starter pipeline.yaml for a task")
    init.add_argument("--task", default="sft", help="sft|classification|clm|mlm (default sft)")
    init.add_argument("--model", help="model alias, hub id or folder (default: the embedded model for the task)")
    init.add_argument("--data", metavar="PATH", help="your data file or folder (default: the bundled demo data)")
    init.add_argument("--output", metavar="FILE", default="pipeline.yaml", help="where to write it (default pipeline.yaml)")
    init.add_argument("--force", action="store_true", help="replace an existing file")
    init.set_defaults(run=_run_init)

    prepare = verbs.add_parser(
        "prepare", parents=[output, configured], formatter_class=argparse.RawDescriptionHelpFormatter,
        help="read, validate, normalize, dedup, split and report a dataset",
        description=PrepareConfig.__doc__, epilog=config_reference(PrepareConfig))
    prepare.add_argument("--input", action="append", metavar="PATH", help="input file or folder (repeatable)")
    prepare.add_argument("--output", metavar="DIR", help="output folder")
    prepare.add_argument("--kind", help="auto|instruction|chat|completion|text|classification|pairs|preference")
    prepare.add_argument("--lang", help="language of the data (ro turns on Romanian fixes)")
    prepare.add_argument("--model", help="model alias, hub id or folder whose tokenizer measures lengths")
    prepare.add_argument("--seed", type=int)
    prepare.add_argument("--strict", action="store_true", default=None, help="fail on the first bad record")
    prepare.set_defaults(run=_run_prepare)

    from antrenor.training.config import TrainConfig

    train = verbs.add_parser(
        "train", parents=[output, configured], formatter_class=argparse.RawDescriptionHelpFormatter,
        help="fine-tune a model on a prepared data folder",
        description=TrainConfig.__doc__, epilog=config_reference(TrainConfig))
    train.add_argument("--data", metavar="DIR", help="a folder written by antrenor prepare")
    train.add_argument("--model", help="model alias, hub id or local folder")
    train.add_argument("--task", help="sft|classification|clm|mlm")
    train.add_argument("--method", help="full|lora|qlora|ia3|prompt|freeze")
    train.add_argument("--output", metavar="DIR", help="output folder")
    train.add_argument("--resume", action="store_true", default=None, help="continue from the last complete checkpoint")
    train.set_defaults(run=_run_train)

    from antrenor.tuning.config import TuneConfig

    tune = verbs.add_parser(
        "tune", parents=[output], formatter_class=argparse.RawDescriptionHelpFormatter,
        help="search the train section's hyperparameters (optuna): best_pipeline.yaml, trials.csv, a report",
        description=TuneConfig.__doc__, epilog=config_reference(TuneConfig) + "\n(keys of the pipeline YAML's tune section)")
    tune.add_argument("pipeline", metavar="PIPELINE_YAML", help="pipeline YAML with a train section (and optionally tune)")
    tune.add_argument("--trials", type=int, metavar="N", help="finished trials wanted, counting those of a resumed study")
    tune.add_argument("--metric", help="validation metric, e.g. eval_loss or eval_accuracy")
    tune.add_argument("--direction", help="auto|minimize|maximize (auto: minimize losses, maximize the rest)")
    tune.add_argument("--output", metavar="DIR", help="output folder (default: <train.output>-tune)")
    tune.add_argument("--timeout", type=float, metavar="S", help="start no new trial after S seconds")
    tune.set_defaults(run=_run_tune)

    from antrenor.evaluation.config import EvalConfig

    evaluate = verbs.add_parser(
        "eval", parents=[output, configured], formatter_class=argparse.RawDescriptionHelpFormatter,
        help="compare base and tuned models: metrics, robustness, OOD, forgetting, one report",
        description=EvalConfig.__doc__, epilog=config_reference(EvalConfig))
    evaluate.add_argument("--model", action="append", metavar="DIR", dest="models",
                          help="tuned model folder, hub id or alias (repeatable)")
    evaluate.add_argument("--base", help="base model: auto (from the manifest), a name, or none")
    evaluate.add_argument("--data", metavar="DIR", help="a folder written by antrenor prepare")
    evaluate.add_argument("--output", metavar="DIR", help="output folder for the report")
    evaluate.add_argument("--split", help="test|validation|train")
    evaluate.add_argument("--suite", help="comma-separated: metrics,robustness,ood,forgetting")
    evaluate.add_argument("--ood", metavar="PATH", help="out-of-distribution data (file or prepared folder)")
    evaluate.add_argument("--cv", type=int, metavar="K", help="k-fold cross-validation (classification)")
    evaluate.set_defaults(run=_run_eval)

    from antrenor.export.config import ExportConfig

    export = verbs.add_parser(
        "export", parents=[output, configured], formatter_class=argparse.RawDescriptionHelpFormatter,
        help="merge, export to ONNX (parity checked), quantize to int8 and write a model card",
        description=ExportConfig.__doc__, epilog=config_reference(ExportConfig))
    export.add_argument("--model", metavar="DIR", help="a folder written by antrenor train")
    export.add_argument("--output", metavar="DIR", help="output folder")
    export.add_argument("--format", help="safetensors|onnx")
    export.add_argument("--quantize", help="none|int8 (int8 needs --format onnx)")
    export.add_argument("--eval", metavar="DIR", help="an antrenor eval output whose results go into the model card")
    export.add_argument("--push-to-hub", metavar="REPO", dest="push_to_hub", help="upload to this Hugging Face Hub repo")
    export.set_defaults(run=_run_export)

    from antrenor.serve.monitor import MonitorConfig

    monitor = verbs.add_parser(
        "monitor", parents=[output, configured], formatter_class=argparse.RawDescriptionHelpFormatter,
        help="compare production inputs (the request log) with the training data: drift report, exit 3 on drift",
        description=MonitorConfig.__doc__, epilog=config_reference(MonitorConfig))
    monitor.add_argument("--log", metavar="DB", help="the SQLite request log antrenor serve writes")
    monitor.add_argument("--reference", metavar="DIR", help="the training data: a folder written by antrenor prepare")
    monitor.add_argument("--output", metavar="DIR", help="output folder for the drift report")
    monitor.add_argument("--since", metavar="TIME", help="only log rows after this ISO-8601 time")
    monitor.add_argument("--retrain", metavar="PIPELINE_YAML", help="on drift, retrain with its prepare and train sections")
    monitor.set_defaults(run=_run_monitor)

    from antrenor.serve.config import ServeConfig

    serve = verbs.add_parser(
        "serve", parents=[output, configured], formatter_class=argparse.RawDescriptionHelpFormatter,
        help="serve a model over HTTP: OpenAI-compatible API, /v1/classify, /metrics, request log",
        description=ServeConfig.__doc__, epilog=config_reference(ServeConfig))
    serve.add_argument("--model", metavar="DIR", help="a folder written by antrenor train or antrenor export")
    serve.add_argument("--backend", help="torch|onnx")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="TCP port (default 8000)")
    serve.add_argument("--api-key", metavar="KEY", dest="api_key",
                       help="bearer key clients must send (default: $ANTRENOR_API_KEY; none: no authentication)")
    serve.add_argument("--log-db", metavar="FILE", dest="log_db", help="SQLite request log (default: MODEL/requests.db)")
    serve.set_defaults(run=_run_serve)

    models = verbs.add_parser("models", parents=[output], help="list the model registry")
    models.set_defaults(run=_run_models)
    return parser


def _reporter(args: argparse.Namespace) -> Reporter:
    return Reporter("json" if args.json else "quiet" if args.quiet else "rich")


def _run_pipeline(args: argparse.Namespace) -> int:
    from antrenor.pipeline.run import run_pipeline

    _quiet_model_libraries()
    return run_pipeline(args.pipeline, args.overrides, args.force, _reporter(args), serve=args.serve).exit_code


def _run_init(args: argparse.Namespace) -> int:
    from antrenor.pipeline.config import load_pipeline
    from antrenor.pipeline.starter import write_starter

    path = write_starter(args.output, args.task, args.model, args.data, overwrite=args.force)
    load_pipeline(path)  # what we write must be valid
    print(f"wrote {path}: edit the data paths, then run: antrenor run {path}")
    return 0


def _run_prepare(args: argparse.Namespace) -> int:
    from antrenor.data.config import PrepareConfig
    from antrenor.data.prepare import prepare

    flags = {"input": args.input, "output": args.output, "kind": args.kind, "lang": args.lang,
             "model": args.model, "seed": args.seed, "strict": args.strict}
    cfg = load_config(PrepareConfig, args.config, args.overrides, flags)
    reporter = _reporter(args)
    result = prepare(cfg, reporter)
    summary = result.summary
    reporter.table("splits", ["split", "records"], [[k, v] for k, v in summary["splits"].items()])
    if summary["rejected_by_code"]:
        reporter.table("rejected (see rejects.jsonl)", ["reason", "records"], [[k, v] for k, v in summary["rejected_by_code"].items()])
    if summary["normalization"]:
        reporter.table("normalization", ["change", "texts"], [[k, v] for k, v in summary["normalization"].items()])
    reporter.info(f"report: [bold]{result.report_html}[/]")
    reporter.emit_json({"output": str(result.output), "report": str(result.report_html), **summary})
    return 0


def _quiet_model_libraries() -> None:
    """transformers' per-load progress bars and load notes (e.g. a new classifier head) would bury ours."""
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()


def _run_train(args: argparse.Namespace) -> int:
    from antrenor.training.config import TrainConfig
    from antrenor.training.run import train

    flags = {"data": args.data, "model": args.model, "task": args.task, "method": args.method,
             "output": args.output, "resume": args.resume}
    cfg = load_config(TrainConfig, args.config, args.overrides, flags)
    reporter = _reporter(args)
    _quiet_model_libraries()
    result = train(cfg, reporter)
    shown = {k: v for k, v in result.metrics.items() if isinstance(v, (int, float))}
    reporter.table("training", ["figure", "value"], [[k, f"{v:.4g}"] for k, v in shown.items()])
    reporter.info(f"{result.status}: model in [bold]{result.output}[/]")
    reporter.emit_json({"output": str(result.output), "status": result.status, "metrics": shown,
                        "trainable_parameters": result.trainable_parameters, "total_parameters": result.total_parameters})
    return 0 if result.status == "completed" else 130


def _run_tune(args: argparse.Namespace) -> int:
    from antrenor.tuning.report import format_params
    from antrenor.tuning.run import quiet_optuna, tune

    overrides = {"trials": args.trials, "metric": args.metric, "direction": args.direction, "output": args.output,
                 "timeout": args.timeout}
    reporter = _reporter(args)
    _quiet_model_libraries()
    quiet_optuna()
    result = tune(args.pipeline, reporter, overrides=overrides)
    rows = [[t.number, format_params(t.params), "–" if t.value is None else f"{t.value:.4g}",
             f"pruned at step {t.last_step}" if t.state == "pruned" else t.state,
             "" if t.duration_s is None else f"{t.duration_s:.0f} s"] for t in result.trials]
    reporter.table(f"trials ({result.direction} {result.metric})", ["trial", "params", result.metric, "state", "duration"], rows)
    if result.best is not None:
        reporter.info(f"best: trial {result.best.number}, {result.metric} {result.best.value:.4g}; "
                      f"ready pipeline: [bold]{result.best_pipeline}[/]")
    reporter.info(f"report: [bold]{result.report_md}[/]")
    best = None if result.best is None else {"trial": result.best.number, "value": result.best.value,
                                             "params": result.best.params, "output": result.best.output}
    reporter.emit_json({"output": str(result.output), "status": result.status, "metric": result.metric,
                        "direction": result.direction, "best": best,
                        "best_pipeline": str(result.best_pipeline) if result.best_pipeline else None,
                        "report": str(result.report_md), "trials_csv": str(result.trials_csv),
                        "trials": [{"trial": t.number, "state": t.state, "value": t.value, "params": t.params,
                                    "duration_s": t.duration_s} for t in result.trials]})
    return 130 if result.status == "interrupted" else 0


def _run_eval(args: argparse.Namespace) -> int:
    from antrenor.evaluation.config import EvalConfig
    from antrenor.evaluation.report import headline_rows
    from antrenor.evaluation.run import evaluate

    flags = {"models": args.models, "base": args.base, "data": args.data, "output": args.output, "split": args.split,
             "suite": args.suite.split(",") if args.suite else None, "ood": args.ood, "cv": args.cv}
    cfg = load_config(EvalConfig, args.config, args.overrides, flags)
    reporter = _reporter(args)
    _quiet_model_libraries()
    result = evaluate(cfg, reporter)
    summary = result.metrics
    headline = summary["headline"]
    reporter.table(f"{headline} on {summary['split']}", ["model", headline, "vs base", "p"], headline_rows(summary))
    reporter.info(f"report: [bold]{result.report_html}[/]")
    reporter.emit_json({"output": str(result.output), "report": str(result.report_html), "headline": headline,
                        "models": {label: {name: f["value"] for name, f in m.get("metrics", {}).items()}
                                   for label, m in summary["models"].items()}})
    return 0


def _run_export(args: argparse.Namespace) -> int:
    from antrenor.export.config import ExportConfig
    from antrenor.export.run import check_summary, export

    flags = {"model": args.model, "output": args.output, "format": args.format, "quantize": args.quantize,
             "eval": args.eval, "push_to_hub": args.push_to_hub}
    cfg = load_config(ExportConfig, args.config, args.overrides, flags)
    reporter = _reporter(args)
    _quiet_model_libraries()
    result = export(cfg, reporter)
    rows = [[name, check_summary(check)] for name, check in result.checks.items() if isinstance(check, dict)]
    reporter.table("export checks", ["check", "result"], rows)
    reporter.emit_json({"output": str(result.output), "model_version": result.model_version, "checks": result.checks,
                        "hub_url": result.hub_url})
    return 0


def _run_monitor(args: argparse.Namespace) -> int:
    from antrenor.serve.monitor import MonitorConfig, monitor

    flags = {"log": args.log, "reference": args.reference, "output": args.output, "since": args.since,
             "retrain": args.retrain}
    cfg = load_config(MonitorConfig, args.config, args.overrides, flags)
    reporter = _reporter(args)
    _quiet_model_libraries()
    result = monitor(cfg, reporter)
    rows = [[s.name, "–" if s.statistic is None else f"{s.statistic:.3g}", f"{s.threshold:g}",
             "–" if s.p_value is None else f"{s.p_value:.3g}", s.verdict] for s in result.signals]
    reporter.table("drift", ["signal", "statistic", "threshold", "p-value", "verdict"], rows)
    reporter.info(f"report: [bold]{result.report_html}[/]")
    reporter.emit_json({"output": str(result.output), "report": str(result.report_html), "drift": result.drifted,
                        "exit_code": result.exit_code, "signals": {s.name: s.verdict for s in result.signals},
                        "to_label": str(result.to_label) if result.to_label else None, "retrain": result.retrain})
    return result.exit_code


def _run_serve(args: argparse.Namespace) -> int:
    from antrenor.serve.config import ServeConfig
    from antrenor.serve.run import serve

    flags = {"model": args.model, "backend": args.backend, "host": args.host, "port": args.port,
             "api_key": args.api_key or os.environ.get("ANTRENOR_API_KEY") or None, "log_db": args.log_db}
    cfg = load_config(ServeConfig, args.config, args.overrides, flags)
    _quiet_model_libraries()
    serve(cfg, _reporter(args))
    return 0


def _run_models(args: argparse.Namespace) -> int:
    from antrenor.models.registry import REGISTRY

    reporter = _reporter(args)
    rows = [[e.alias, e.hub_id, e.family, f"{e.params_millions:g}M", e.license, e.languages, "yes" if e.embedded else "no"]
            for e in REGISTRY.values()]
    reporter.table("models", ["alias", "hub id", "family", "params", "license", "languages", "offline"], rows)
    reporter.emit_json({"models": [dict(zip(["alias", "hub_id", "family", "params", "license", "languages", "embedded"], r)) for r in rows]})
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except AntrenorError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # a bug of ours: say so plainly, keep the traceback for a report
        if os.environ.get("ANTRENOR_DEBUG"):
            traceback.print_exc()
        print(f"internal error: {type(error).__name__}: {error}\n"
              "this is a bug in antrenor; rerun with ANTRENOR_DEBUG=1 for the traceback and report it", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
