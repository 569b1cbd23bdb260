"""The `monitor` section: what to compare, the drift thresholds, and the retraining hand-off."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from antrenor.config import StageConfig, StrictModel

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
    overwrite: bool = Field(False, description="Write into an output folder that holds another stage's results, "
                            "other inputs' results or files antrenor did not write (docs/output-folders.md); "
                            "only this stage's files are replaced, nothing else is deleted.")
    since: str | None = Field(None, description="Only log rows after this ISO-8601 time: 2025-01-31, 2025-01-31T08:00:00 "
                              "(UTC, as the log writes it) or 2025-01-31T08:00:00+02:00.")
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

    @field_validator("since")
    @classmethod
    def _iso_time(cls, since: str | None) -> str | None:
        """As the log writes created_at (UTC, milliseconds), so that rows compare as text."""
        if since is None:
            return None
        try:
            moment = datetime.fromisoformat(since.strip())
        except ValueError:
            raise ValueError(f"since {since!r} is not an ISO-8601 time; give 2025-01-31, 2025-01-31T08:00:00 (UTC) "
                             "or 2025-01-31T08:00:00+02:00") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")

    def doubts(self) -> list[str]:
        doubts = []
        if self.thresholds.alpha > 0.05:
            doubts.append(f"thresholds.alpha={self.thresholds.alpha}: with {len(self.signals)} signals, a false alarm "
                          "on some signal becomes likely (0.01 is usual)")
        if self.window is not None and self.window < self.min_inputs:
            doubts.append(f"window={self.window} is under min_inputs={self.min_inputs}: every signal will lack data")
        if self.since is not None and self.since > datetime.now(timezone.utc).isoformat():
            doubts.append(f"since={self.since} is in the future: no logged request can match")
        if self.retrain and not self.labelled:
            doubts.append("retrain is set but labelled is not: on drift, only to_label.jsonl is written")
        return doubts
