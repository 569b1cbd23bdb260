"""k-fold cross-validation for small classification datasets: `antrenor eval --cv 5`.

A single test split of a few hundred examples gives a noisy figure; k folds give a mean and a
spread. The prepared train+validation records are pooled and split into k stratified folds
(seeded); each fold trains a fresh model with the given train config on the other k-1 folds and
is scored on its own fold. Reported: each fold's metrics, their mean ± std, in metrics.json and
eval_report.md/html.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from antrenor.config import load_config, save_resolved_config
from antrenor.console import Reporter
from antrenor.errors import ConfigError
from antrenor.evaluation.config import EvalConfig
from antrenor.evaluation.run import EvalResult
from antrenor.records.splits import read_split
from antrenor.reporting.files import write_json_atomic, write_jsonl_atomic, write_text_atomic
from antrenor.reporting.stats import mean_std


def fold_indices(labels: list[str], k: int, seed: int) -> list[np.ndarray]:
    """Test indices of each fold, stratified by label when every label has at least k examples."""
    from sklearn.model_selection import KFold, StratifiedKFold

    counts = {label: labels.count(label) for label in set(labels)}
    splitter = StratifiedKFold(k, shuffle=True, random_state=seed) if min(counts.values()) >= k else \
        KFold(k, shuffle=True, random_state=seed)
    return [test for _, test in splitter.split(np.zeros(len(labels)), labels)]


def cross_validate(cfg: EvalConfig, reporter: Reporter) -> EvalResult:
    """Train a fresh model per fold with cfg.train_config and score it on its fold; mean ± std per metric."""
    from antrenor.evaluation.run import evaluate
    from antrenor.training.config import TrainConfig
    from antrenor.training.run import train

    data = Path(cfg.data)
    manifest = json.loads((data / "manifest.json").read_text(encoding="utf-8"))
    if manifest["kind"] not in ("classification", "pairs"):
        raise ConfigError(f"--cv is for classification data; {cfg.data} holds {manifest['kind']} records")
    records = read_split(data, "train") + read_split(data, "validation")
    labels = [str(r.get("label", r.get("score"))) for r in records]
    if len(records) < 2 * cfg.cv:
        raise ConfigError(f"{len(records)} records are too few for {cfg.cv} folds")
    output = Path(cfg.output)
    folds, figures = fold_indices(labels, cfg.cv, cfg.seed), []
    for number, test in enumerate(folds, start=1):
        reporter.info(f"fold {number}/{cfg.cv}: training on {len(records) - len(test)}, testing on {len(test)}")
        fold_dir = output / f"fold-{number}"
        fold_data = _write_fold(data, manifest, records, set(test.tolist()), fold_dir / "data")
        train_cfg = load_config(TrainConfig, cfg.train_config, [], {
            "data": str(fold_data), "output": str(fold_dir / "model"), "task": "classification", "report_to": [],
            "resume": False})
        if (fold_dir / "model").exists():
            shutil.rmtree(fold_dir / "model")  # a fold is retrained from scratch, never resumed half-way
        train(train_cfg, reporter)
        result = evaluate({"models": [str(fold_dir / "model")], "base": "none", "data": str(fold_data),
                           "output": str(fold_dir / "eval"), "suite": ["metrics"], "seed": cfg.seed,
                           "bootstrap_samples": cfg.bootstrap_samples, "batch_size": cfg.batch_size}, Reporter("quiet"))
        entry = next(iter(result.metrics["models"].values()))
        figures.append({name: f["value"] for name, f in entry["metrics"].items()})
    summary = _summary(cfg, figures, len(records))
    save_resolved_config(cfg, output / "eval_config.yaml")
    write_json_atomic(output / "metrics.json", summary)
    markdown = _markdown(summary)
    write_text_atomic(output / "eval_report.md", markdown)
    from antrenor.reporting.blocks import render_html

    write_text_atomic(output / "eval_report.html", render_html(_blocks(summary)))
    return EvalResult(output, output / "eval_report.html", output / "eval_report.md", summary)


def _write_fold(source: Path, manifest: dict[str, Any], records: list[dict[str, Any]], test: set[int], target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    write_jsonl_atomic(target / "train.jsonl", (r for i, r in enumerate(records) if i not in test))
    write_jsonl_atomic(target / "validation.jsonl", [])
    write_jsonl_atomic(target / "test.jsonl", (r for i, r in enumerate(records) if i in test))
    write_json_atomic(target / "manifest.json", {**manifest, "cv_fold_of": str(source)})
    return target


def _summary(cfg: EvalConfig, figures: list[dict[str, float]], examples: int) -> dict[str, Any]:
    names = list(figures[0])
    stats = {}
    for name in names:
        mean, std = mean_std([f[name] for f in figures])
        stats[name] = {"mean": mean, "std": std, "folds": [f[name] for f in figures]}
    return {"stage": "eval", "mode": "cross-validation", "k": cfg.cv, "data": cfg.data, "examples": examples,
            "seed": cfg.seed, "train_config": cfg.train_config, "metrics": stats}


def _blocks(summary: dict[str, Any]) -> list:
    rows = [[name, f"{s['mean']:.2f} ± {s['std']:.2f}", ", ".join(f"{v:.2f}" for v in s["folds"])]
            for name, s in summary["metrics"].items()]
    return [("h1", f"{summary['k']}-fold cross-validation"),
            ("p", f"{summary['examples']} examples of {summary['data']} (train + validation pooled), stratified folds, "
                  f"seed {summary['seed']}; each fold trained with {summary['train_config']}."),
            ("table", (["metric", "mean ± std", "per fold"], rows))]


def _markdown(summary: dict[str, Any]) -> str:
    from antrenor.reporting.blocks import render_markdown

    return render_markdown(_blocks(summary))
