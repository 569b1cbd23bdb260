"""The prepare stage: read -> detect kind -> normalize -> filter -> [build preference pairs] -> dedup
-> measure -> split -> write.

Example:
    >>> import antrenor
    >>> result = antrenor.prepare({"input": ["data/demo/legal-classification"], "output": "runs/prep"})
    >>> result.splits
    {'train': 1079, 'validation': 135, 'test': 135}
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from antrenor.config import as_config
from antrenor.console import Reporter
from antrenor.data.config import PrepareConfig
from antrenor.data.prepare_run import PrepareRun
from antrenor.data.readers import input_files
from antrenor.data.records import Record
from antrenor.errors import ConfigError
from antrenor.models.registry import check_model_name
from antrenor.records.kinds import map_texts
from antrenor.records.language import load_language_detector
from antrenor.records.normalize import strip_diacritics
from antrenor.reporting.output_folder import OutputFolder, check_output, check_writable


@dataclass
class PrepareResult:
    output: Path
    kind: str
    splits: dict[str, int]
    rejected: int
    summary: dict[str, Any] = field(repr=False)

    @property
    def report_html(self) -> Path:
        return self.output / "data_report.html"


def prepare(config: PrepareConfig | dict[str, Any] | str | Path, reporter: Reporter | None = None) -> PrepareResult:
    """Prepare a dataset for training; see PrepareConfig for every option."""
    cfg = as_config(PrepareConfig, config)
    reporter = reporter or Reporter("quiet")
    files = check_before_work(cfg)
    for doubt in cfg.doubts():
        reporter.warn(doubt)
    run = PrepareRun(cfg, reporter)
    records = run.read_and_validate(files)
    records = run.build_preference_pairs(records)
    run.remove_duplicates(records)
    records = run.kept(records)
    if cfg.model:
        run.measure_lengths(records)
        records = run.kept(records)
    run.split(records)
    run.drop_labels_unseen_in_train(records)
    records = run.kept(records)
    records = run.feedback_from_pairs(records)
    records += augment_without_diacritics(records, run.kind, cfg.augment.strip_diacritics, cfg.seed)
    with OutputFolder(cfg.output, "prepare", cfg.input):
        summary = run.write_outputs(records, Path(cfg.output))
    splits = summary["splits"]
    return PrepareResult(Path(cfg.output), run.kind, splits, len(run.rejects), summary)


def check_before_work(cfg: PrepareConfig) -> list[tuple[Path, str]]:
    """Every problem that can be known before reading data, reported at once."""
    files, problems = input_files(cfg.input)
    if cfg.model:
        problem = check_model_name(cfg.model)
        if problem:
            problems.append(problem)
    if cfg.filters.language and load_language_detector() is None:
        problems.append("filters.language needs langdetect: pip install 'antrenor[lang]'")
    problems += check_output(cfg.output, "prepare", cfg.input, cfg.overwrite)
    if problems:
        raise ConfigError("cannot start prepare:", problems=problems)
    check_writable(cfg.output)
    return files


def augment_without_diacritics(records: list[Record], kind: str, fraction: float, seed: int) -> list[Record]:
    """Copies of a seeded `fraction` of train records whose user-side text has no diacritics."""
    if fraction <= 0:
        return []
    train = [r for r in records if r.split == "train"]
    rng = random.Random(seed + 1)
    chosen = sorted(rng.sample(train, round(len(train) * fraction)), key=lambda r: r.index)
    copies = []
    for record in chosen:
        data = map_texts(record.data, kind, strip_diacritics, user_side_only=True)
        if data != record.data:
            copies.append(Record(record.index, record.source, record.line, record.unit, data, "train",
                                 record.token_length, {"augmented": "strip_diacritics"}))
    return copies
