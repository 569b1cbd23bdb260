"""One entry per stage: run it through its library function, and say in one line what came out."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from antrenor.console import Reporter


@dataclass
class StageRun:
    status: str = "completed"  # or "interrupted"
    report: Path | None = None  # the stage's own report, linked from run_report.html
    summary: str = ""  # one line for the terminal table


def run_stage(name: str, cfg: Any, reporter: Reporter) -> StageRun:
    return {"prepare": _prepare, "train": _train, "eval": _eval, "export": _export}[name](cfg, reporter)


def _prepare(cfg, reporter: Reporter) -> StageRun:
    from antrenor.data.prepare import prepare

    result = prepare(cfg, reporter)
    splits = ", ".join(f"{split} {count}" for split, count in result.splits.items())
    return StageRun(report=result.report_html, summary=f"{result.kind}: {splits}; {result.rejected} rejected")


# what a run's summary shows of training: losses, classification scores, and the preference / RL figures
SUMMARY_FIGURES = ("eval_loss", "eval_accuracy", "eval_f1", "train_loss", "eval_rewards/margins", "eval_reward", "eval_kl")


def _train(cfg, reporter: Reporter) -> StageRun:
    from antrenor.training.run import train

    result = train(cfg, reporter)
    shown = [(k, v) for k, v in result.metrics.items() if k in SUMMARY_FIGURES]
    summary = ", ".join(f"{k} {v:.4g}" for k, v in shown)
    summary += f"; {result.trainable_parameters:,} trainable ({100 * result.trainable_parameters / result.total_parameters:.2f} %)"
    curves = Path(result.output) / "training_curves.png"
    return StageRun("completed" if result.status == "completed" else "interrupted",
                    curves if curves.exists() else None, summary)


def _eval(cfg, reporter: Reporter) -> StageRun:
    from antrenor.pipeline.evaluate import evaluate

    result = evaluate(cfg, reporter)
    return StageRun(report=result.report_html, summary=headline_text(result.metrics))


def headline_text(summary: dict[str, Any]) -> str:
    """'model vs base 4-shot (strongest baseline): rougeL 6.70 -> 21.10 (+14.40, p 0.002)' for each tuned model,
    'model vs base: ...' without baselines, or the bare figures."""
    name, parts = summary["headline"], []
    for label, entry in summary["models"].items():
        verdict, gain = entry.get("vs_strongest_baseline"), entry.get("vs_base", {}).get(name)
        if verdict:
            outcome = "" if verdict["significant"] else " NOT significantly better"
            parts.append(f"{label} vs {verdict['baseline']} (strongest baseline): {name} {verdict['baseline_value']:.2f} "
                         f"-> {verdict['tuned_value']:.2f} ({verdict['gain']:+.2f}, p {verdict['p_value']:.2g}){outcome}")
        elif gain:
            parts.append(f"{label} vs base: {name} {gain['base']:.2f} -> {gain['tuned']:.2f} "
                         f"({gain['delta']:+.2f}, p {gain['p_value']:.2g})")
    if not parts:
        parts = [f"{label}: {name} {entry['metrics'][name]['value']:.2f}"
                 for label, entry in summary["models"].items() if name in entry.get("metrics", {})]
    return "; ".join(parts)


def _export(cfg, reporter: Reporter) -> StageRun:
    from antrenor.export.run import check_summary, export

    result = export(cfg, reporter)
    checks = [f"{name}: {check_summary(check)}" for name, check in result.checks.items() if isinstance(check, dict)]
    card = Path(result.output) / "README.md"
    return StageRun(report=card if card.exists() else None, summary="; ".join(checks) or json.dumps(result.checks)[:200])
