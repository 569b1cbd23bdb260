"""The `antrenor` command: one verb per stage. Parses, calls the library, prints. No logic.

Exit codes: 0 success, 1 failure, 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from antrenor.config import describe_fields, load_config, merged_keys
from antrenor.console import reporter_for
from antrenor.errors import AntrenorError, environment_problem


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


def _add_overwrite_flag(verb: argparse.ArgumentParser) -> None:
    verb.add_argument("--overwrite", action="store_true", default=None,
                      help="write into an output folder holding other results or files antrenor did not write "
                           "(only this stage's files are replaced; nothing else is deleted; docs/output-folders.md)")


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
    run.add_argument("--overwrite", action="store_true",
                     help="let every stage of this run write into an output folder holding other results or files "
                          "antrenor did not write (each replaces only its own files; nothing else is deleted; "
                          "docs/output-folders.md)")
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
    _add_overwrite_flag(prepare)
    prepare.add_argument("--kind", help="auto|instruction|chat|completion|text|classification|pairs|preference|feedback")
    prepare.add_argument("--lang", help="language of the data (ro turns on Romanian fixes)")
    prepare.add_argument("--model", help="model alias, hub id or folder whose tokenizer measures lengths")
    prepare.add_argument("--seed", type=int)
    prepare.add_argument("--strict", action="store_true", default=None, help="fail on the first bad record")
    prepare.set_defaults(run=_run_prepare)

    from antrenor.training.config import TrainConfig
    from antrenor.training.launch import LAUNCHERS

    train = verbs.add_parser(
        "train", parents=[output, configured], formatter_class=argparse.RawDescriptionHelpFormatter,
        help="fine-tune a model on a prepared data folder",
        description=TrainConfig.__doc__, epilog=config_reference(TrainConfig))
    train.add_argument("--data", metavar="DIR", help="a folder written by antrenor prepare")
    train.add_argument("--model", help="model alias, hub id or local folder")
    train.add_argument("--task", help="sft|classification|clm|mlm|reward|preference|rl")
    train.add_argument("--method", help="full|lora|qlora|ia3|prompt|freeze; for task preference also dpo|ipo|simpo|orpo|kto, "
                       "for task rl grpo (that algorithm with lora)")
    train.add_argument("--reward-model", metavar="DIR", action="append", dest="reward_model",
                       help="task rl: add a reward model (a `train --task reward` output) to rl.rewards (repeatable)")
    train.add_argument("--output", metavar="DIR", help="output folder")
    _add_overwrite_flag(train)
    train.add_argument("--resume", action="store_true", default=None, help="continue from the last complete checkpoint")
    train.add_argument("--dry-run", action="store_true", dest="dry_run",
                       help="check the chat template only: print two rendered examples with the trained tokens "
                            "between « and », the end-of-turn tokens, and any problem; no model is loaded")
    scale = train.add_argument_group("scale-out (docs/scale-out.md)")
    scale.add_argument("--launcher", choices=LAUNCHERS, default="none",
                       help="none: train in this process; accelerate: in N processes under accelerate launch (DDP, "
                            "or DeepSpeed/FSDP when the config sets them)")
    scale.add_argument("--num-processes", type=int, metavar="N", dest="num_processes",
                       help="processes in total, across all machines: one per GPU (on CPU: gloo DDP)")
    scale.add_argument("--num-machines", type=int, metavar="M", dest="num_machines", help="machines taking part (default 1)")
    scale.add_argument("--machine-rank", type=int, metavar="R", dest="machine_rank", help="this machine's rank, 0..M-1")
    scale.add_argument("--main-process-ip", metavar="IP", dest="main_process_ip", help="address of the machine with rank 0")
    scale.add_argument("--main-process-port", type=int, metavar="PORT", dest="main_process_port",
                       help="a free TCP port on that machine")
    scale.add_argument("--accelerate-config", metavar="FILE", dest="accelerate_config",
                       help="an accelerate config file (from `accelerate config`); flags given here override it")
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
    _add_overwrite_flag(evaluate)
    evaluate.add_argument("--split", help="test|validation|train")
    evaluate.add_argument("--suite", help="comma-separated: metrics,robustness,ood,forgetting")
    evaluate.add_argument("--ood", metavar="PATH", help="out-of-distribution data (file or prepared folder)")
    evaluate.add_argument("--cv", type=int, metavar="K", help="k-fold cross-validation (classification)")
    evaluate.add_argument("--judge", metavar="DIR", help="reward model that scores generated answers (tasks preference, rl)")
    evaluate.set_defaults(run=_run_eval)

    from antrenor.export.config import ExportConfig

    export = verbs.add_parser(
        "export", parents=[output, configured], formatter_class=argparse.RawDescriptionHelpFormatter,
        help="merge, export to ONNX or GGUF (parity checked), quantize and write a model card",
        description=ExportConfig.__doc__, epilog=config_reference(ExportConfig))
    export.add_argument("--model", metavar="DIR", help="a folder written by antrenor train")
    export.add_argument("--output", metavar="DIR", help="output folder")
    _add_overwrite_flag(export)
    export.add_argument("--format", help="safetensors|onnx|gguf")
    export.add_argument("--gguf-type", dest="gguf_type",
                        help="f16|q8_0|bf16|q5_1|q5_0|q4_1|q4_0|f32 (with --format gguf)")
    export.add_argument("--quantize", help="none|int8 (int8 needs --format onnx)")
    export.add_argument("--eval", metavar="DIR", help="an antrenor eval output whose results go into the model card")
    export.add_argument("--push-to-hub", metavar="REPO", dest="push_to_hub", help="upload to this Hugging Face Hub repo")
    export.set_defaults(run=_run_export)

    from antrenor.monitoring.config import MonitorConfig

    monitor = verbs.add_parser(
        "monitor", parents=[output, configured], formatter_class=argparse.RawDescriptionHelpFormatter,
        help="compare production inputs (the request log) with the training data: drift report, exit 3 on drift",
        description=MonitorConfig.__doc__, epilog=config_reference(MonitorConfig))
    monitor.add_argument("--log", metavar="DB", help="the SQLite request log antrenor serve writes")
    monitor.add_argument("--reference", metavar="DIR", help="the training data: a folder written by antrenor prepare")
    monitor.add_argument("--output", metavar="DIR", help="output folder for the drift report")
    _add_overwrite_flag(monitor)
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
    serve.add_argument("--log-db", metavar="FILE", dest="log_db", help="SQLite request log (default: MODEL.requests.db, beside the model folder)")
    serve.add_argument("--allow-unauthenticated", action="store_true", default=None, dest="allow_unauthenticated",
                       help="allow a non-loopback --host without an API key (anyone who reaches the port can use it)")
    serve.set_defaults(run=_run_serve)

    human = verbs.add_parser("human", parents=[output], help="blind Likert ratings of model answers by people: create, "
                             "serve, report", description="Human evaluation: `human ACTION --help` for the actions.")
    from antrenor.human.cli import add_human_actions

    add_human_actions(human, _output_flags_after_action(), _config_flags())

    models = verbs.add_parser("models", parents=[output], help="list, search, size and recommend base models",
                              description="List the model registry; `models ACTION --help` for the actions.")
    models.add_argument("--search", metavar="TEXT", help="only entries whose alias, hub id, family or languages contain TEXT")
    models.set_defaults(run=_run_models)
    _add_model_actions(models)
    return parser


def _run_pipeline(args: argparse.Namespace) -> int:
    from antrenor.pipeline.run import run_pipeline

    _quiet_model_libraries()
    return run_pipeline(args.pipeline, args.overrides, args.force, reporter_for(args), serve=args.serve,
                        overwrite=args.overwrite).exit_code


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
             "model": args.model, "seed": args.seed, "strict": args.strict, "overwrite": args.overwrite}
    cfg = load_config(PrepareConfig, args.config, args.overrides, flags)
    reporter = reporter_for(args)
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
    import warnings

    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    import datasets  # TRL's trainers tokenize and filter with datasets' map/filter, each with a progress bar

    datasets.disable_progress_bars()
    # peft reads a property transformers has deprecated; nothing a user can act on
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)


def train_flags(args: argparse.Namespace) -> dict:
    """The train config keys the flags set; --reward-model adds to the rewards the YAML and --set declare."""
    from antrenor.training.config import TrainConfig

    flags = {"data": args.data, "model": args.model, "task": args.task, "method": args.method,
             "output": args.output, "resume": args.resume, "overwrite": getattr(args, "overwrite", None)}
    if args.reward_model:
        declared = (merged_keys(TrainConfig, args.config, args.overrides).get("rl") or {}).get("rewards") or []
        flags["rl.rewards"] = list(declared) + [{"type": "model", "model": path} for path in args.reward_model]
    return flags


def _run_train(args: argparse.Namespace) -> int:
    from antrenor.training.config import TrainConfig
    from antrenor.training.launch import LaunchOptions, launch_train, process_reporter
    from antrenor.training.run import train

    cfg = load_config(TrainConfig, args.config, args.overrides, train_flags(args))
    if args.dry_run:
        return _dry_run_train(cfg, reporter_for(args))
    reporter = process_reporter(reporter_for(args))  # one voice for N launched processes
    launch = LaunchOptions(args.num_processes, args.num_machines, args.machine_rank, args.main_process_ip,
                           args.main_process_port, args.accelerate_config)
    if args.launcher != "none" or launch.given():
        output_flags = ["--quiet"] if args.quiet else ["--json"] if args.json else []
        return launch_train(cfg, args.launcher, launch, output_flags, reporter)
    _quiet_model_libraries()
    result = train(cfg, reporter)
    shown = {k: v for k, v in result.metrics.items() if isinstance(v, (int, float))}
    reporter.table("training", ["figure", "value"], [[k, f"{v:.4g}"] for k, v in shown.items()])
    reporter.info(f"{result.status}: model in [bold]{result.output}[/]")
    reporter.emit_json({"output": str(result.output), "status": result.status, "metrics": shown,
                        "trainable_parameters": result.trainable_parameters, "total_parameters": result.total_parameters})
    return 0 if result.status == "completed" else 130


def _dry_run_train(cfg, reporter) -> int:  # a TrainConfig and a Reporter
    from antrenor.training.dry_run import dry_run

    report = dry_run(cfg, reporter)
    if reporter.mode == "rich":
        for number, example in enumerate(report.examples, start=1):
            reporter.console.rule(f"example {number} (trained tokens between « and »)")
            reporter.console.print(example, markup=False, highlight=False)
        reporter.console.rule()
    reporter.info(f"end-of-turn tokens generation stops on: {', '.join(report.end_of_turn)}")
    for problem in report.problems:
        reporter.err_console.print(f"[red]problem:[/] {problem}", highlight=False)
    reporter.emit_json({"examples": report.examples, "end_of_turn": report.end_of_turn, "problems": report.problems,
                        "warnings": report.warnings, "longest_checked_example": report.longest})
    if report.problems:
        return 1
    reporter.info("the chat template is sound: training renders each answer as generation will, ending with its "
                  "end-of-turn token")
    return 0


def _run_tune(args: argparse.Namespace) -> int:
    from antrenor.tuning.report import format_params
    from antrenor.tuning.run import quiet_optuna, tune

    overrides = {"trials": args.trials, "metric": args.metric, "direction": args.direction, "output": args.output,
                 "timeout": args.timeout}
    reporter = reporter_for(args)
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
    from antrenor.evaluation.alignment_report import win_rate_lines
    from antrenor.evaluation.compare import verdict_sentence
    from antrenor.evaluation.config import EvalConfig
    from antrenor.evaluation.report import headline_rows
    from antrenor.pipeline.evaluate import evaluate

    flags = {"models": args.models, "base": args.base, "data": args.data, "output": args.output, "split": args.split,
             "suite": args.suite.split(",") if args.suite else None, "ood": args.ood, "cv": args.cv, "judge": args.judge,
             "overwrite": args.overwrite}
    cfg = load_config(EvalConfig, args.config, args.overrides, flags)
    reporter = reporter_for(args)
    _quiet_model_libraries()
    result = evaluate(cfg, reporter)
    summary = result.metrics
    headline = summary["headline"]
    reporter.table(f"{headline} on {summary['split']}", ["model", headline, "vs base", "p"], headline_rows(summary))
    for line in win_rate_lines(summary):
        reporter.info(line)
    for label, entry in summary["models"].items():
        verdict = entry.get("vs_strongest_baseline")
        if verdict:
            (reporter.info if verdict["significant"] else reporter.warn)(verdict_sentence(label, verdict))
    reporter.info(f"report: [bold]{result.report_html}[/]")
    reporter.emit_json({"output": str(result.output), "report": str(result.report_html), "headline": headline,
                        "models": {label: {name: f["value"] for name, f in m.get("metrics", {}).items()}
                                   for label, m in summary["models"].items()}})
    return 0


def _run_export(args: argparse.Namespace) -> int:
    from antrenor.export.config import ExportConfig
    from antrenor.export.run import check_summary, export

    flags = {"model": args.model, "output": args.output, "format": args.format, "quantize": args.quantize,
             "gguf_type": args.gguf_type,
             "eval": args.eval, "push_to_hub": args.push_to_hub, "overwrite": args.overwrite}
    cfg = load_config(ExportConfig, args.config, args.overrides, flags)
    reporter = reporter_for(args)
    _quiet_model_libraries()
    result = export(cfg, reporter)
    rows = [[name, check_summary(check)] for name, check in result.checks.items() if isinstance(check, dict)]
    reporter.table("export checks", ["check", "result"], rows)
    reporter.emit_json({"output": str(result.output), "model_version": result.model_version, "checks": result.checks,
                        "hub_url": result.hub_url})
    return 0


def _run_monitor(args: argparse.Namespace) -> int:
    from antrenor.monitoring.config import MonitorConfig
    from antrenor.pipeline.retrain import monitor_and_retrain

    flags = {"log": args.log, "reference": args.reference, "output": args.output, "since": args.since,
             "retrain": args.retrain, "overwrite": args.overwrite}
    cfg = load_config(MonitorConfig, args.config, args.overrides, flags)
    reporter = reporter_for(args)
    _quiet_model_libraries()
    result = monitor_and_retrain(cfg, reporter)
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
             "api_key": args.api_key or os.environ.get("ANTRENOR_API_KEY") or None, "log_db": args.log_db,
             "allow_unauthenticated": args.allow_unauthenticated}
    cfg = load_config(ServeConfig, args.config, args.overrides, flags)
    _quiet_model_libraries()
    serve(cfg, reporter_for(args))
    return 0


def _output_flags_after_action() -> argparse.ArgumentParser:
    """--quiet/--json again after an action; SUPPRESS keeps one given before it (`models --json search ro`)."""
    output = argparse.ArgumentParser(add_help=False)
    mode = output.add_mutually_exclusive_group()
    mode.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS, help="print only warnings and errors")
    mode.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON summary on stdout")
    return output


def _add_model_actions(models: argparse.ArgumentParser) -> None:
    from antrenor.models.memory import METHODS, TASK_ARCHITECTURES

    output = _output_flags_after_action()
    actions = models.add_subparsers(dest="models_action", metavar="ACTION")
    search = actions.add_parser("search", parents=[output],
                                help="registry entries matching TEXT (alias, hub id, family, languages)")
    search.add_argument("text", nargs="+", metavar="TEXT")
    search.set_defaults(run=_run_models)
    estimate = actions.add_parser(
        "estimate", parents=[output], help="memory to train (and serve) a model: weights, gradients, optimizer, activations",
        description="Estimate the peak memory (RSS) of training a model with antrenor, and of serving it. "
                    "Formulas and their calibration: antrenor.models.memory, docs/benchmarks.md.")
    estimate.add_argument("model", metavar="NAME", help="registry alias, local model folder or hub id")
    estimate.add_argument("--method", choices=METHODS, default="lora", help="default lora, as in antrenor train")
    estimate.add_argument("--task", choices=list(TASK_ARCHITECTURES),
                          help="default: sft for causal LMs, classification for encoders")
    estimate.add_argument("--seq-len", type=int, dest="seq_len", metavar="N",
                          help="tokens per row (default 512 sft/clm, 256 otherwise)")
    estimate.add_argument("--batch", type=int, metavar="B", help="micro-batch (default: antrenor's, 1 sft/clm, 8 otherwise)")
    estimate.add_argument("--lora-r", type=int, dest="lora_r", metavar="R", help="LoRA rank (default: the train config's)")
    estimate.add_argument("--gradient-checkpointing", action="store_true", dest="gradient_checkpointing")
    estimate.add_argument("--fp32", action="store_true", help="no bf16 autocast (CPUs without AVX512-BF16)")
    estimate.set_defaults(run=_run_models_estimate)
    recommend = actions.add_parser(
        "recommend", parents=[output], help="base models and a method that fit a task, a language and a memory budget",
        description="Suggest registry models and a method (full, lora, qlora) whose estimated training peak fits "
                    "in 80 % of --memory; Romanian-capable (or --lang) models first, then the largest.")
    recommend.add_argument("--task", choices=list(TASK_ARCHITECTURES), required=True)
    recommend.add_argument("--memory", required=True, metavar="SIZE", help="memory available for training, e.g. 16GB or 512MB")
    recommend.add_argument("--lang", default="ro", help="language of the data (default ro)")
    recommend.add_argument("--method", choices=METHODS, help="only consider this method")
    recommend.add_argument("--seq-len", type=int, dest="seq_len", metavar="N",
                           help="tokens per row (default 512 sft/clm, 256 otherwise)")
    recommend.set_defaults(run=_run_models_recommend)


def _run_models(args: argparse.Namespace) -> int:
    from antrenor.models.registry import REGISTRY, search_models

    text = " ".join(getattr(args, "text", None) or []) or args.search
    entries = search_models(text) if text else list(REGISTRY.values())
    reporter = reporter_for(args)
    rows = [[e.alias, e.hub_id, e.family, f"{e.params_millions:g}M", e.license, e.languages, e.chat_template or "–",
             f"{e.context_length:,}" if e.context_length else "–", "yes" if e.embedded else "no"] for e in entries]
    if text and not rows:
        reporter.info(f"no model matches {text!r}; `antrenor models` lists them all")
    else:
        reporter.table(f"models matching {text!r}" if text else "models",
                       ["alias", "hub id", "family", "params", "license", "languages", "chat template", "context",
                        "offline"], rows)
    keys = ["alias", "hub_id", "family", "params", "license", "languages", "chat_template", "context_length", "embedded"]
    reporter.emit_json({"models": [{**dict(zip(keys, row)), "context_length": e.context_length, "source": e.source}
                                   for row, e in zip(rows, entries)]})
    return 0


def _run_models_estimate(args: argparse.Namespace) -> int:
    from antrenor.models.memory import estimate_memory, format_bytes

    estimate = estimate_memory(args.model, task=args.task, method=args.method, seq_len=args.seq_len, batch_size=args.batch,
                               lora_r=args.lora_r, gradient_checkpointing=args.gradient_checkpointing, bf16=not args.fp32)
    reporter = reporter_for(args)
    reporter.info(f"[bold]{estimate.model}[/]: {estimate.architecture}, {estimate.parameters / 1e6:,.1f}M parameters; "
                  f"{estimate.task} with {estimate.method} ({estimate.trainable_parameters:,} trainable), "
                  f"{estimate.seq_len} tokens x micro-batch {estimate.batch_size}")
    train, serve = estimate.training, estimate.inference
    rows = []
    for part, label in [("weights", "weights"), ("gradients", "gradients"), ("optimizer", "optimizer (AdamW m+v)"),
                        ("activations", "activations"), ("kv_cache", "KV cache"), ("allocator", "allocator slack"),
                        ("framework", "framework")]:
        sizes = [getattr(phase, part) for phase in (train, serve)]
        rows.append([label] + [format_bytes(size) if size else "–" for size in sizes])
    rows.append(["total", format_bytes(train.total), format_bytes(serve.total)])
    reporter.table("estimated peak memory", ["part", "training", "inference"], rows)
    from rich.markup import escape

    for note in estimate.notes:
        reporter.info(f"  {escape(note)}")
    reporter.emit_json(estimate.to_dict())
    return 0


def _run_models_recommend(args: argparse.Namespace) -> int:
    from antrenor.models.memory import format_bytes
    from antrenor.models.recommend import recommend

    result = recommend(args.task, args.memory, lang=args.lang, method=args.method, seq_len=args.seq_len)
    reporter = reporter_for(args)
    rows = [[rank, p.alias, p.estimate.method, p.estimate.batch_size, "yes" if p.estimate.gradient_checkpointing else "no",
             format_bytes(p.estimate.training.total), f"{p.estimate.training.total / result.memory:.0%}"]
            for rank, p in enumerate(result.picks, 1)]
    if rows:
        reporter.table(f"{args.task} in {format_bytes(result.memory)} ({format_bytes(result.budget)} usable)",
                       ["#", "model", "method", "micro-batch", "checkpointing", "training peak", "of memory"], rows)
        from rich.markup import escape

        for pick in result.picks[:3]:
            reporter.info(f"[bold]{pick.alias}[/] ({pick.hub_id})")
            for reason in pick.reasons:
                reporter.info(f"  - {escape(reason)}")
    else:
        reporter.warn(result.explanation)
    reporter.emit_json(result.to_dict())
    return 0 if result.picks else 1


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
    except OSError as error:  # a read-only or full disk, a missing permission: the machine's, not a bug
        problem = environment_problem(error)
        if problem is None:
            return _internal_error(error)
        print(f"error: {problem}", file=sys.stderr)
        return problem.exit_code
    except Exception as error:  # a bug of ours: say so plainly, keep the traceback for a report
        return _internal_error(error)


def _internal_error(error: Exception) -> int:
    if os.environ.get("ANTRENOR_DEBUG"):
        traceback.print_exc()
    print(f"internal error: {type(error).__name__}: {error}\n"
          "this is a bug in antrenor; rerun with ANTRENOR_DEBUG=1 for the traceback and report it", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
