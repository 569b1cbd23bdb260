"""The monitor stage: read the request log -> read the reference data -> drift signals -> report
-> on drift, a sample to label and (optionally) retraining.

Built for cron: it never prompts, and its exit code says what it found (see MonitorConfig).

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
from typing import Any, ClassVar, Literal

from pydantic import Field

from antrenor.config import StageConfig, StrictModel, as_config, save_resolved_config
from antrenor.console import Reporter
from antrenor.errors import ConfigError
from antrenor.serve import drift
from antrenor.serve.reference import ProductionInputs, Reference, read_production, read_reference

EXIT_NO_DRIFT, EXIT_DRIFT, EXIT_RETRAINED = 0, 3, 4
SignalName = Literal["length", "vocabulary", "diacritics", "cedilla", "language", "embedding", "labels", "confidence"]
ALL_SIGNALS = ["length", "vocabulary", "diacritics", "cedilla", "language", "embedding", "labels", "confidence"]


class ThresholdsConfig(StrictModel):
    """When a signal says drift: its effect must pass the threshold AND its test's p-value must be under alpha."""

    alpha: float = Field(0.01, gt=0.0, lt=1.0, description="p-value below which a shift is not sampling noise "
                         "(several signals are tested, so keep it small: false alarms add up).")
    length_psi: float = Field(0.25, gt=0.0, description="PSI of input lengths (< 0.1 stable, 0.1-0.25 moderate, > 0.25 shifted).")
    oov_ratio: float = Field(1.5, gt=0.0, description="Production OOV rate / the reference's own held-out OOV rate.")
    diacritics_change: float = Field(0.3, gt=0.0, description="Relative change of the Romanian diacritics rate (0.3 = 30 %).")
    cedilla_share: float = Field(0.2, gt=0.0, le=1.0, description="Absolute change of the share of ș ț written with a cedilla (ş ţ).")
    language_drop: float = Field(0.1, gt=0.0, le=1.0, description="Drop of the share of inputs in the reference's main language.")
    label_psi: float = Field(0.25, gt=0.0, description="PSI of predicted labels vs the reference's labels (classifiers).")
    confidence_drop: float = Field(0.1, gt=0.0, le=1.0, description="Drop of the mean top score, older vs newer half of the window (classifiers).")


class MonitorConfig(StageConfig):
    """`antrenor monitor`: compare what production sends (the request log of `antrenor serve`) with the
    training data (an `antrenor prepare` folder) on input length, vocabulary, Romanian diacritics, language,
    sentence embeddings and, for classifiers, predicted labels and confidence. Writes drift_report.html/.md
    and drift.json; on drift, to_label.jsonl (a sample to label) and, with `retrain`, a retrained model.
    Exit codes (for cron): 0 no drift, 3 drift found, 4 drift found and a model retrained;
    1 failure, 2 bad configuration. Never prompts."""

    stage: ClassVar[str] = "monitor"

    log: str = Field(..., description="The SQLite request log `antrenor serve` writes.")
    reference: str = Field(..., description="The training data: a folder written by `antrenor prepare`.")
    output: str = Field(..., description="Output folder for the report, drift.json, to_label.jsonl and retraining runs.")
    since: str | None = Field(None, description="Only log rows after this ISO-8601 UTC time, as the log writes it (e.g. 2025-01-31T00:00:00).")
    window: int | None = Field(1000, ge=1, description="Only the last N production inputs (status 200); none = all.")
    endpoints: list[str] | None = Field(
        None, description="Endpoints whose inputs are compared; default: those serving the reference's kind "
        "(/v1/classify for classification, /v1/chat/completions and /v1/completions for instructions and chat).")
    signals: list[SignalName] = Field(
        default_factory=lambda: list(ALL_SIGNALS),
        description="Signals computed: length, vocabulary, diacritics, cedilla, language, embedding, labels, confidence.")
    min_inputs: int = Field(30, ge=5, description="Fewer production inputs than this: a signal says 'not enough data'.")
    length_unit: Literal["words", "chars"] = Field("words", description="Input length counted in words or characters.")
    sample_size: int = Field(200, ge=10, description="Texts per side for language detection and embeddings (a seeded sample).")
    embedding_model: str = Field("minilm-l6", description="Encoder for embedding drift (mean-pooled); the default works offline.")
    embedding_max_length: int = Field(128, ge=8, description="Tokens per text embedded (longer texts are cut).")
    permutations: int = Field(500, ge=50, description="Permutations of the MMD test (p-value resolution 1/(N+1)).")
    seed: int = Field(0, description="Seed for samples and permutations: same log + seed -> same report.")
    label_sample: int = Field(100, ge=1, description="Production inputs written to to_label.jsonl when drift is found.")
    labelled: str | None = Field(None, description="JSONL of to_label.jsonl records you labelled; retraining adds them to the data.")
    retrain: str | None = Field(None, description="Pipeline YAML whose prepare and train sections retrain on drift.")
    thresholds: ThresholdsConfig = Field(default_factory=ThresholdsConfig, description="Drift thresholds.")

    def doubts(self) -> list[str]:
        doubts = []
        if self.thresholds.alpha > 0.05:
            doubts.append(f"thresholds.alpha={self.thresholds.alpha}: with {len(self.signals)} signals, a false alarm "
                          "on some signal becomes likely (0.01 is usual)")
        if self.window is not None and self.window < self.min_inputs:
            doubts.append(f"window={self.window} is under min_inputs={self.min_inputs}: every signal will lack data")
        if self.retrain and not self.labelled:
            doubts.append("retrain is set but labelled is not: on drift, only to_label.jsonl is written")
        return doubts


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


def monitor(config: MonitorConfig | dict[str, Any] | str | Path, reporter: Reporter | None = None) -> MonitorResult:
    """Run the drift checks once; see MonitorConfig. `result.exit_code` is what the CLI exits with."""
    cfg = as_config(MonitorConfig, config)
    reporter = reporter or Reporter("quiet")
    check_before_work(cfg)
    for doubt in cfg.doubts():
        reporter.warn(doubt)
    output = Path(cfg.output)
    output.mkdir(parents=True, exist_ok=True)
    reference = read_reference(Path(cfg.reference))
    production = read_production(cfg.log, reference.kind, cfg.endpoints, cfg.since, cfg.window)
    reporter.info(f"{len(production.texts)} production inputs ({production.time_range()}) vs "
                  f"{len(reference.texts)} reference texts ({reference.kind})")
    notes: list[str] = []
    signals = compute_signals(cfg, reference, production, notes, reporter)
    for note in notes:
        reporter.warn(note)

    from antrenor.serve import retrain
    from antrenor.serve.drift_report import write_drift_report

    to_label, retrained = None, None
    if drift.any_drift(signals):
        to_label = output / "to_label.jsonl"
        written = retrain.write_to_label(to_label, production, reference.kind, cfg.label_sample, cfg.seed)
        reporter.info(f"drift found: {written} recent inputs to label in [bold]{to_label}[/]")
        if cfg.retrain:
            retrained = retrain.retrain(Path(cfg.retrain), cfg.labelled, reference.kind, output, reporter)
    save_resolved_config(cfg, output / "monitor_config.yaml")
    result = MonitorResult(output, output / "drift_report.html", output / "drift_report.md", output / "drift.json",
                           signals, to_label, retrained)
    result.summary = summarize(cfg, result, reference, production, notes)
    write_drift_report(output, result.summary, signals)
    return result


def check_before_work(cfg: MonitorConfig) -> None:
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
    if cfg.retrain:
        from antrenor.serve.retrain import check_pipeline

        problems += check_pipeline(Path(cfg.retrain))
    if problems:
        raise ConfigError("cannot start the monitor:", problems=problems)


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
        from antrenor.data.validate import load_language_detector

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
    from antrenor.evaluation.scoring import mean_pooled_embeddings

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
