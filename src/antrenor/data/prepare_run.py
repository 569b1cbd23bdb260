"""The steps of one prepare run, sharing its state: the kind, the rejects and the counts."""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter
from pathlib import Path
from typing import Any

from antrenor.console import Reporter
from antrenor.data import dedup, lengths, preference_pairs, report
from antrenor.data.config import PrepareConfig
from antrenor.data.readers import file_sha256, read_records
from antrenor.data.records import RawRecord, Record, Reject
from antrenor.data.split import assign_splits
from antrenor.data.validate import RecordValidator
from antrenor.errors import DataError
from antrenor.records.kinds import apply_columns, detect_kind
from antrenor.records.normalize import TextNormalizer
from antrenor.records.problem import Problem

KIND_SAMPLE_SIZE = 1000
# Classification reads the start of a text; raw text for pre-training is chunked by the train
# stage, so nothing is lost by keeping it; cutting an answer would teach the model to stop mid-way.
AUTO_TOO_LONG = {"classification": "truncate", "text": "keep", "pairs": "drop", "instruction": "drop",
                 "chat": "drop", "completion": "drop", "preference": "drop", "feedback": "drop"}


class PrepareRun:
    def __init__(self, cfg: PrepareConfig, reporter: Reporter):
        self.cfg, self.reporter = cfg, reporter
        self.kind = ""
        self.kind_reason = ""
        self.rejects: list[Reject] = []
        self.counts: Counter[str] = Counter()
        self.inputs: list[dict[str, Any]] = []
        self.normalizer = TextNormalizer(
            nfc=cfg.normalize.nfc, fix_cedilla=cfg.fix_cedilla,
            control_chars=cfg.normalize.control_chars, whitespace=cfg.normalize.whitespace,
        )
        self.duplicate_examples: list[dict[str, Any]] = []
        self.split_origin: dict[str, str] = {}
        self.max_length: int | None = None
        self.tokenizer: Any = None

    # -- reading -------------------------------------------------------------------------
    def read_and_validate(self, files: list[tuple[Path, str]]) -> list[Record]:
        stream = self._read_all(files)
        sample = list(itertools.islice(stream, KIND_SAMPLE_SIZE))
        self._choose_kind(sample)
        validator = RecordValidator(self.kind, self.cfg.columns, self.normalizer,
                                    self.cfg.filters.min_chars, self.cfg.filters.language)
        records: list[Record] = []
        for raw in itertools.chain(sample, stream):
            self.counts["read"] += 1
            if raw.problem:
                self.reject(raw.source, raw.line, raw.unit, raw.problem, raw.raw)
                continue
            data, split, problem = validator(raw)
            if problem:
                self.reject(raw.source, raw.line, raw.unit, problem, raw.raw)
                continue
            records.append(Record(len(records), raw.source, raw.line, raw.unit, data, split or raw.split, raw=raw.raw))
            if self.cfg.max_records is not None and len(records) == self.cfg.max_records:
                self.reporter.warn(f"max_records {self.cfg.max_records} reached at {raw.source}:{raw.line}: "
                                   "the rest of the input was not read")
                break
        if not records:
            raise DataError(f"no usable record in {', '.join(self.cfg.input)}",
                            problems=self._reject_summary() or ["the input is empty"])
        return records

    def _read_all(self, files: list[tuple[Path, str]]):
        total = sum(_size(path) for path, _ in files)
        with self.reporter.progress("reading", total=total) as bar:
            for path, fmt in files:
                info = {"path": str(path), "format": fmt, "bytes": _size(path), "sha256": file_sha256(path), "records": 0}
                self.inputs.append(info)
                for raw in read_records(path, fmt, text_unit=self.cfg.text_unit,
                                        max_bytes=self.cfg.filters.max_record_bytes, progress=bar.advance):
                    info["records"] += 1
                    yield raw

    def _choose_kind(self, sample: list[RawRecord]) -> None:
        if self.cfg.kind != "auto":
            self.kind, self.kind_reason = self.cfg.kind, "given with --kind"
        else:
            fields = [apply_columns(r.fields, self.cfg.columns) for r in sample if r.fields is not None]
            if not fields:
                raise DataError(f"no usable record in {', '.join(self.cfg.input)}",
                                problems=self._sample_problems(sample) or ["the input is empty"])
            kind, self.kind_reason = detect_kind(fields)
            if kind is None:
                raise DataError(f"cannot tell what kind of records {', '.join(self.cfg.input)} holds",
                                problems=[self.kind_reason] + self._sample_problems(sample))
            self.kind = kind
        if self.cfg.filters.too_long == "truncate" and self.kind not in ("text", "classification"):
            raise DataError(f"filters.too_long=truncate cannot apply to {self.kind} records",
                            problems=["use filters.too_long=drop (cutting an answer would teach the model to stop mid-way)"])
        if self.cfg.build_preference.rejected and self.kind not in preference_pairs.SOURCE_KINDS:
            raise DataError(f"build_preference cannot make pairs from {self.kind} records ({self.kind_reason})",
                            problems=[f"give {', '.join(preference_pairs.SOURCE_KINDS)} records (map your columns with "
                                      "--set columns.NAME=YOURS), or leave build_preference.rejected unset"])
        self.reporter.info(f"kind: [bold]{self.kind}[/] ({self.kind_reason})")

    def _sample_problems(self, sample: list[RawRecord]) -> list[str]:
        bad = [r for r in sample if r.problem][:5]
        return [f"{r.where}: {r.problem.reason}" for r in bad if r.problem]

    # -- rejects ---------------------------------------------------------------------------
    def reject(self, source: str, line: int, unit: str, problem: Problem, raw: str) -> None:
        rejected = Reject(source, line, unit, problem, raw)
        if self.cfg.strict:
            where = f"{source}:{line}" if unit == "line" else f"{source} row {line}"
            raise DataError(f"{where}: {problem.reason} (strict mode stops at the first bad record)",
                            problems=[f"fix: {problem.fix}"] if problem.fix else [])
        self.rejects.append(rejected)

    def drop(self, record: Record, problem: Problem) -> None:
        record.dropped = problem
        self.reject(record.source, record.line, record.unit, problem, record.raw)

    @staticmethod
    def kept(records: list[Record]) -> list[Record]:
        return [r for r in records if r.dropped is None]

    def _reject_summary(self) -> list[str]:
        codes = Counter(r.problem.code for r in self.rejects)
        first = {}
        for r in self.rejects:
            first.setdefault(r.problem.code, r)
        return [f"{n} x {code}, e.g. {first[code].source}:{first[code].line}: {first[code].problem.reason}; fix: {first[code].problem.fix}"
                for code, n in codes.most_common()]

    # -- built preference data ---------------------------------------------------------------
    def build_preference_pairs(self, records: list[Record]) -> list[Record]:
        """Instruction/chat/completion records -> preference records (kind 'preference'); no-op when off."""
        rule = self.cfg.build_preference.rejected
        if rule is None:
            return records
        outcomes = preference_pairs.build_pairs([r.data for r in records], self.kind, rule, seed=self.cfg.seed + 2,
                                                groups=[r.split for r in records])
        pairs = []
        for record, outcome in zip(records, outcomes):
            if isinstance(outcome, Problem):
                self.reject(record.source, record.line, record.unit, outcome, record.raw)
            else:
                pairs.append(dataclasses.replace(record, data=outcome))
        if not pairs:
            raise DataError(f"build_preference={rule} made no pair from {', '.join(self.cfg.input)}",
                            problems=self._reject_summary())
        self.reporter.info(f"built {len(pairs)} preference pairs from {self.kind} records (rejected: {rule})")
        self.kind_reason = (f"pairs built from {self.kind} records ({self.kind_reason}); chosen = the record's answer, "
                            f"rejected = {preference_pairs.REJECTED_RULES[rule]}")
        self.kind = "preference"
        return pairs

    def feedback_from_pairs(self, records: list[Record]) -> list[Record]:
        """Built pairs -> two feedback records each, in the pair's split (so a prompt never spans splits)."""
        if self.cfg.build_preference.rejected is None or self.cfg.build_preference.output != "feedback":
            return records
        feedback = [dataclasses.replace(record, index=2 * record.index + position, data=data, extra=dict(record.extra))
                    for record in records
                    for position, data in enumerate(preference_pairs.feedback_records(record.data))]
        if self.tokenizer is not None:  # each completion alone: at most its pair's length, so nothing new is too long
            with lengths.quiet_transformers():
                measured = lengths.token_lengths([r.data for r in feedback], "feedback", self.tokenizer)
            for record, length in zip(feedback, measured):
                record.token_length = length
        self.kind = "feedback"
        self.kind_reason += "; each pair written as two records, label true for the chosen answer, false for the rejected"
        return feedback

    # -- dedup -----------------------------------------------------------------------------
    def remove_duplicates(self, records: list[Record]) -> None:
        by_index = {r.index: r for r in records}
        found = dedup.find_exact_duplicates(records, self.kind) if self.cfg.dedup.exact else []
        for duplicate in found:
            self._drop_duplicate(by_index, duplicate)
        if self.cfg.dedup.near:
            remaining = self.kept(records)
            with self.reporter.progress("near-duplicates", total=len(remaining)) as bar:
                near = dedup.find_near_duplicates(
                    remaining, self.kind, threshold=self.cfg.dedup.threshold, ngram=self.cfg.dedup.ngram,
                    num_perm=self.cfg.dedup.num_perm, progress=bar.advance)
            for duplicate in near:
                self._drop_duplicate(by_index, duplicate)

    def _drop_duplicate(self, by_index: dict[int, Record], duplicate: dedup.Duplicate) -> None:
        record, original = by_index[duplicate.index], by_index[duplicate.of]
        how = "exact duplicate" if duplicate.exact else f"near-duplicate (similarity {duplicate.similarity:.2f})"
        conflict = ""
        if self.kind == "classification" and record.data.get("label", record.data.get("labels")) != original.data.get("label", original.data.get("labels")):
            conflict = f"; its label {record.data.get('label', record.data.get('labels'))!r} differs from {original.data.get('label', original.data.get('labels'))!r}"
        crosses = original.split == "train" and record.split in ("validation", "test")
        code = "contamination" if crosses else ("exact_duplicate" if duplicate.exact else "near_duplicate")
        reason = f"{how} of {original.where}{conflict}"
        if crosses:
            reason += f"; removed from {record.split} so evaluation never sees training data"
        self.counts[code] += 1
        if len(self.duplicate_examples) < 10 and not duplicate.exact:
            self.duplicate_examples.append({"kept": original.where, "dropped": record.where,
                                            "similarity": duplicate.similarity})
        self.drop(record, Problem(code, reason, "nothing to do: the first occurrence is kept"))

    # -- lengths ---------------------------------------------------------------------------
    def measure_lengths(self, records: list[Record]) -> None:
        from antrenor.models.registry import load_tokenizer

        self.tokenizer = load_tokenizer(self.cfg.model)
        self.max_length = self.cfg.filters.max_length or lengths.default_max_length(self.tokenizer)
        with self.reporter.progress("tokenizing", total=len(records)) as bar, lengths.quiet_transformers():
            measured = lengths.token_lengths([r.data for r in records], self.kind, self.tokenizer, progress=bar.advance)
        policy = self.cfg.filters.too_long
        if policy == "auto":
            policy = AUTO_TOO_LONG[self.kind]
        for record, length in zip(records, measured):
            record.token_length = length
            if length <= self.max_length:
                continue
            self.counts["over_max_length"] += 1
            if policy == "truncate":
                record.data["text"] = lengths.truncate_to_tokens(record.data["text"], self.tokenizer, self.max_length)
                record.extra["truncated_from"] = length
                record.token_length = self.max_length
                self.counts["truncated"] += 1
            elif policy == "drop":
                self.drop(record, Problem("too_long", f"{length} tokens, over filters.max_length={self.max_length}",
                                          "raise filters.max_length, or use filters.too_long=truncate for text"))

    # -- splits and labels -----------------------------------------------------------------
    def split(self, records: list[Record]) -> None:
        labels = None
        if self.kind == "classification" and self.cfg.split.stratify:
            labels = {r.index: str(r.data["label"]) for r in records if "label" in r.data}
        self.split_origin = assign_splits(records, validation=self.cfg.split.validation, test=self.cfg.split.test,
                                          seed=self.cfg.seed, labels=labels)

    def drop_labels_unseen_in_train(self, records: list[Record]) -> None:
        if self.kind not in ("classification", "pairs"):
            return
        seen = {label for r in records if r.split == "train" for label in _labels(r)}
        for record in records:
            unseen = [label for label in _labels(record) if label not in seen]
            if record.split != "train" and unseen:
                self.counts["label_unseen_in_train"] += 1
                self.drop(record, Problem(
                    "label_unseen_in_train",
                    f"label {unseen[0]!r} is in {record.split} but never in train: the model cannot learn it",
                    f"add training examples labelled {unseen[0]!r}, or remove it from the evaluation data"))

    # -- writing ---------------------------------------------------------------------------
    def warn_untrainable(self, records: list[Record]) -> None:
        """Splits left empty and one-label classification data: said here, before anyone trains on them."""
        counts = {name: sum(1 for r in records if r.split == name) for name in ("train", "validation", "test")}
        fractions = {"validation": self.cfg.split.validation, "test": self.cfg.split.test}
        if not counts["train"]:
            self.reporter.warn("the train split is empty: every record came marked validation or test; train will "
                               "refuse this folder")
        empty = [name for name, fraction in fractions.items() if fraction > 0 and not counts[name]]
        if empty and counts["train"]:
            total = sum(counts.values())
            asked = ", ".join(f"{name}={fractions[name]:g}" for name in empty)
            self.reporter.warn(
                f"the {' and '.join(empty)} split{'s are' if len(empty) > 1 else ' is'} empty: {total} records are too "
                f"few for {asked} (a split gets round(records x fraction), and train keeps one record of each label); "
                f"{'eval has no test records to score' if 'test' in empty else 'train carves its own validation'}; "
                "give more records, or split them in the input (a split column or train/test files)")
        if self.kind == "classification":
            labels = {str(label) for r in records if r.split == "train" for label in _labels(r)}
            if len(labels) == 1 and all("label" in r.data for r in records):
                self.reporter.warn(f"every training record has the label {labels.pop()!r}: a classifier needs at least "
                                   "two labels (train refuses this data); check the label column "
                                   "(--set columns.label=NAME)")

    def write_outputs(self, records: list[Record], output: Path) -> dict[str, Any]:
        self.warn_untrainable(records)
        output.mkdir(parents=True, exist_ok=True)
        self.counts["augmented"] = sum(1 for r in records if r.extra.get("augmented"))
        summary = report.build_summary(self, records)
        report.write_all(self, records, summary, output)
        return summary


def _labels(record: Record) -> list[Any]:
    if "labels" in record.data:
        return list(record.data["labels"])
    return [record.data["label"]] if "label" in record.data else []


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size

