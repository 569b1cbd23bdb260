"""The monitor stage: read the request log -> read the reference data -> drift signals -> report
-> on drift, a sample to label and (optionally) retraining.

Built for cron: it never prompts, and its exit code says what it found (see MonitorConfig).
Retraining runs other stages (prepare, train), so this stage does not run it itself: the caller
hands in a `Retrainer` (antrenor.monitor() and the CLI pass pipeline/retrain.py's).

Example:
    >>> import antrenor
    >>> result = antrenor.monitor({"log": "runs/serve/requests.db", "reference": "runs/prep", "output": "runs/monitor"})
    >>> result.drifted, result.exit_code
    (False, 0)
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from antrenor.config import as_config, save_resolved_config
from antrenor.console import Reporter
from antrenor.errors import ConfigError
from antrenor.monitoring import drift
from antrenor.monitoring.config import EXIT_DRIFT, EXIT_NO_DRIFT, EXIT_RETRAINED, MonitorConfig
from antrenor.monitoring.labelling import write_to_label
from antrenor.monitoring.reference import ProductionInputs, Reference, read_production, read_reference
from antrenor.monitoring.report import write_drift_report
from antrenor.records.request_log import open_read_only
from antrenor.reporting.output_folder import OutputFolder, check_output, check_writable


class Retrainer(Protocol):
    """What retraining on drift needs from the caller: its problems, known before any work, and the run itself
    (which returns the summary drift.json records under "retrain")."""

    def problems(self) -> list[str]: ...

    def __call__(self, kind: str, output: Path, reporter: Reporter) -> dict[str, Any]: ...


@dataclass
class MonitorResult:
    output: Path
    report_html: Path
    report_md: Path
    drift_json: Path
    signals: list[drift.Signal]
    to_label: Path | None = None
    retrain: dict[str, Any] | None = None
    summary: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def drifted(self) -> bool:
        return drift.any_drift(self.signals)

    @property
    def exit_code(self) -> int:
        if not self.drifted:
            return EXIT_NO_DRIFT
        return EXIT_RETRAINED if (self.retrain or {}).get("status") == "completed" else EXIT_DRIFT


def monitor(config: MonitorConfig | dict[str, Any] | str | Path, reporter: Reporter | None = None,
            retrainer: Retrainer | None = None) -> MonitorResult:
    """Run the drift checks once; see MonitorConfig. `result.exit_code` is what the CLI exits with.
    With `retrain` set, `retrainer` runs it on drift (antrenor.monitor() passes one)."""
    cfg = as_config(MonitorConfig, config)
    reporter = reporter or Reporter("quiet")
    check_before_work(cfg, retrainer)
    for doubt in cfg.doubts():
        reporter.warn(doubt)
    output = Path(cfg.output)
    with OutputFolder(output, "monitor", [cfg.log, cfg.reference]):
        return _monitor(cfg, output, reporter, retrainer)


def _monitor(cfg: MonitorConfig, output: Path, reporter: Reporter, retrainer: Retrainer | None) -> MonitorResult:
    reference = read_reference(Path(cfg.reference))
    production = read_production(cfg.log, reference.kind, cfg.endpoints, cfg.since, cfg.window)
    reporter.info(f"{len(production.texts)} production inputs ({production.time_range()}) vs "
                  f"{len(reference.texts)} reference texts ({reference.kind})")
    notes: list[str] = []
    signals = compute_signals(cfg, reference, production, notes, reporter)
    for note in notes:
        reporter.warn(note)


    to_label, retrained = None, None
    if drift.any_drift(signals):
        to_label = output / "to_label.jsonl"
        written = write_to_label(to_label, production, reference.kind, cfg.label_sample, cfg.seed)
        reporter.info(f"drift found: {written} recent inputs to label in [bold]{to_label}[/]")
        if cfg.retrain:
            retrained = retrainer(reference.kind, output, reporter)
    save_resolved_config(cfg, output / "monitor_config.yaml")
    result = MonitorResult(output, output / "drift_report.html", output / "drift_report.md", output / "drift.json",
                           signals, to_label, retrained)
    result.summary = summarize(cfg, result, reference, production, notes)
    write_drift_report(output, result.summary, signals)
    return result


def check_before_work(cfg: MonitorConfig, retrainer: Retrainer | None = None) -> None:
    """Every problem that can be known before reading the log, reported at once."""
    from antrenor.models.registry import check_model_name

    problems = []
    if not Path(cfg.log).is_file():
        problems.append(f"request log {cfg.log} does not exist: pass the SQLite file `antrenor serve` writes (--log)")
    if not (Path(cfg.reference) / "manifest.json").is_file():
        problems.append(f"{cfg.reference} is not an `antrenor prepare` output (no manifest.json): "
                        "pass the folder prepare wrote for the model's training data (--reference)")
    if "embedding" in cfg.signals and check_model_name(cfg.embedding_model):
        problems.append(f"embedding_model: {check_model_name(cfg.embedding_model)}")
    if cfg.labelled and Path(cfg.labelled).is_dir():
        problems.append(f"labelled {cfg.labelled} is a folder: give the JSONL file of labelled records")
    if cfg.retrain and retrainer is None:
        problems.append("retrain is set, but retraining runs the prepare and train stages: call antrenor.monitor() "
                        "or the `antrenor monitor` command, which run it (this stage function alone cannot)")
    elif cfg.retrain:
        problems += retrainer.problems()
    problems += check_output(cfg.output, "monitor", [cfg.log, cfg.reference], cfg.overwrite)
    if problems:
        raise ConfigError("cannot start the monitor:", problems=problems)
    open_read_only(cfg.log).close()  # a file that is not a request log: a DataError now, before any output
    check_writable(cfg.output)


def compute_signals(cfg: MonitorConfig, reference: Reference, production: ProductionInputs, notes: list[str],
                    reporter: Reporter) -> list[drift.Signal]:
    """Each configured signal, in a fixed order; the slow ones (language, embeddings) on seeded samples."""
    limits = {"alpha": cfg.thresholds.alpha, "min_inputs": cfg.min_inputs}
    t, ref, prod = cfg.thresholds, reference.texts, production.texts
    wanted = set(cfg.signals)
    signals = []
    if "length" in wanted:
        signals.append(drift.length_shift(ref, prod, unit=cfg.length_unit, threshold=t.length_psi, **limits))
    if "vocabulary" in wanted:
        vocabulary, held_out = reference.vocabulary_and_held_out(cfg.seed)
        signals.append(drift.vocabulary_shift(vocabulary, held_out, prod, threshold=t.oov_ratio, **limits))
    if "diacritics" in wanted:
        signals.append(drift.diacritics_shift(ref, prod, threshold=t.diacritics_change, **limits))
    if "cedilla" in wanted:
        signals.append(drift.cedilla_shift(ref, prod, threshold=t.cedilla_share, **limits))
    ref_sample, prod_sample = _sample(ref, cfg.sample_size, cfg.seed), _sample(prod, cfg.sample_size, cfg.seed)
    if "language" in wanted:
        from antrenor.records.language import load_language_detector

        signals.append(drift.language_shift(ref_sample, prod_sample, load_language_detector(), threshold=t.language_drop, **limits))
    if "embedding" in wanted:
        signals.append(_embedding_signal(cfg, ref_sample, prod_sample, reporter))
    if {"labels", "confidence"} & wanted and not reference.labels:
        notes.append(f"label and confidence signals skipped: the reference holds {reference.kind} records, not classification")
    elif {"labels", "confidence"} & wanted and not production.predicted:
        notes.append("label and confidence signals skipped: no /v1/classify outputs in the log rows used")
    else:
        if "labels" in wanted:
            signals.append(drift.label_shift(reference.labels, production.predicted, threshold=t.label_psi, **limits))
        if "confidence" in wanted:
            signals.append(drift.confidence_shift(production.confidences, threshold=t.confidence_drop, **limits))
    notes += [f"{s.name}: {s.note}" for s in signals if s.verdict == drift.SKIPPED]
    return signals


def _embedding_signal(cfg: MonitorConfig, reference: list[str], production: list[str], reporter: Reporter) -> drift.Signal:
    if min(len(reference), len(production)) < cfg.min_inputs:  # do not load a model for nothing
        return drift.embedding_shift(_empty(reference), _empty(production), min_inputs=cfg.min_inputs)
    reporter.info(f"embedding {len(reference)} + {len(production)} texts with {cfg.embedding_model}")
    encoder, tokenizer = load_encoder(cfg.embedding_model)
    from antrenor.models.scoring import mean_pooled_embeddings

    embed = lambda texts: mean_pooled_embeddings(encoder, tokenizer, texts, max_length=cfg.embedding_max_length)  # noqa: E731
    return drift.embedding_shift(embed(reference), embed(production), alpha=cfg.thresholds.alpha,
                                 permutations=cfg.permutations, seed=cfg.seed, min_inputs=cfg.min_inputs)


def load_encoder(name: str) -> tuple[Any, Any]:
    """A bare encoder (no head) and its tokenizer; safetensors only."""
    from transformers import AutoModel

    from antrenor.models.loading import check_weights_are_safe
    from antrenor.models.registry import load_tokenizer, resolve_model

    resolved = resolve_model(name)
    check_weights_are_safe(resolved.location, allow_pickle=False)
    encoder = AutoModel.from_pretrained(resolved.location, use_safetensors=True)
    encoder.eval()
    return encoder, load_tokenizer(name)


def _empty(texts: list[str]) -> Any:
    import numpy as np

    return np.zeros((len(texts), 1))


def _sample(texts: list[str], limit: int, seed: int) -> list[str]:
    if len(texts) <= limit:
        return list(texts)
    return [texts[i] for i in sorted(random.Random(seed).sample(range(len(texts)), limit))]


def summarize(cfg: MonitorConfig, result: MonitorResult, reference: Reference, production: ProductionInputs,
              notes: list[str]) -> dict[str, Any]:
    """Everything drift.json records."""
    return {
        "drift": result.drifted,
        "exit_code": result.exit_code,
        "drifted_signals": [s.name for s in result.signals if s.verdict == drift.DRIFT],
        "signals": [s.to_json() for s in result.signals],
        "reference": {"folder": cfg.reference, "kind": reference.kind, "texts": len(reference.texts),
                      "labels": len(reference.labels)},
        "production": production.describe(cfg),
        "to_label": str(result.to_label) if result.to_label else None,
        "retrain": result.retrain,
        "notes": notes,
        "seed": cfg.seed,
    }
