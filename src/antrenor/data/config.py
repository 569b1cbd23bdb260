"""The `prepare` stage's config. Every key here is documented in `antrenor prepare --help`
and in docs/config.md, both generated from these models."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from antrenor.config import StageConfig, StrictModel
from antrenor.records.normalize import fixes_cedilla

KINDS = ("instruction", "chat", "completion", "text", "classification", "pairs", "preference", "feedback")
KindName = Literal["auto", "instruction", "chat", "completion", "text", "classification", "pairs", "preference", "feedback"]


class NormalizeConfig(StrictModel):
    """Text clean-up applied to every text field. Each kind of change is counted in the report."""

    nfc: bool = Field(True, description="Unicode NFC composition (e.g. a + combining breve -> ă).")
    fix_cedilla: bool | None = Field(
        None,
        description="Turn cedilla ş ţ Ş Ţ into the correct Romanian comma-below ș ț Ș Ț "
        "(NFC does not). Default: on when lang is 'ro'.",
    )
    control_chars: bool = Field(True, description="Remove control characters (tabs and newlines are kept).")
    whitespace: bool = Field(
        True,
        description="Odd spaces (no-break, zero-width, line separators) -> plain ones; CRLF -> LF; "
        "runs of spaces -> one; 3+ newlines -> 2; trim ends.",
    )


class FilterConfig(StrictModel):
    """Which records are dropped (to rejects.jsonl, with the reason) or truncated."""

    min_chars: int = Field(1, ge=0, description="Each required text field must have at least this many characters.")
    max_length: int | None = Field(
        None,
        ge=8,
        description="Maximum record length in tokens of --model's tokenizer (chat template included). "
        "Default: the tokenizer's model_max_length, capped at 2048.",
    )
    too_long: Literal["auto", "drop", "truncate", "keep"] = Field(
        "auto",
        description="Records over max_length: 'drop', 'truncate' (text and classification kinds only), "
        "'keep' (only count them), or 'auto' = truncate classification, keep text (training chunks it), "
        "drop the others.",
    )
    language: str | None = Field(
        None,
        description="Expected language code (e.g. 'ro'); records detected as another language are dropped. "
        "Needs the [lang] extra (langdetect). Texts under 20 characters are not checked.",
    )
    max_record_bytes: int = Field(
        5_000_000, ge=1000, description="Lines or records larger than this are rejected before parsing."
    )


class BuildPreferenceConfig(StrictModel):
    """Preference data built from instruction, chat or completion records, for demos and smoke tests:
    each record's answer is the chosen one and a rule makes the rejected one. Built after validation,
    so dedup, lengths and splits see the pairs. Off unless `rejected` is set."""

    rejected: Literal["other_answer", "truncated", None] = Field(
        None,
        description="How the rejected answer is made: 'other_answer' = the answer of another record of the same "
        "input split (a wrong answer, drawn with `seed`, never the chosen text); 'truncated' = the answer cut after "
        "about half of its words (one-word answers are rejected, with the reason). null: off.",
    )
    output: Literal["preference", "feedback"] = Field(
        "preference",
        description="'preference' writes {prompt, chosen, rejected}; 'feedback' (KTO) writes each pair as two records, "
        "{prompt, completion: chosen, label: true} and {prompt, completion: rejected, label: false}, in the same split.",
    )


class DedupConfig(StrictModel):
    """Exact and near-duplicate removal, within the data and across splits (contamination)."""

    exact: bool = Field(True, description="Drop records identical after normalization.")
    near: bool = Field(True, description="Drop near-duplicates found by MinHash LSH.")
    threshold: float = Field(0.85, gt=0.0, le=1.0, description="Estimated Jaccard similarity that counts as near-duplicate.")
    ngram: int = Field(3, ge=1, le=10, description="Word n-gram size of the shingles.")
    num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations: more is more precise and slower.")


class SplitConfig(StrictModel):
    """How records are split. Splits already present in the input (file names like train/dev/test,
    a `split` column, or a DatasetDict) are kept; missing validation/test splits are carved from train."""

    validation: float = Field(0.1, ge=0.0, lt=1.0, description="Fraction of records for validation.")
    test: float = Field(0.1, ge=0.0, lt=1.0, description="Fraction of records for test.")
    stratify: bool = Field(True, description="Keep label proportions equal across splits (classification).")

    @model_validator(mode="after")
    def _leave_room_for_train(self) -> "SplitConfig":
        if self.validation + self.test >= 1.0:
            raise ValueError(f"validation + test = {self.validation + self.test:g} leaves nothing for train; keep it below 1")
        return self


class AugmentConfig(StrictModel):
    """Optional augmentation of the train split only (so it can never leak into evaluation)."""

    strip_diacritics: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Fraction of train records that get an extra copy whose user-side text has no "
        "Romanian diacritics (ă â î ș ț -> a a i s t), as many users type.",
    )


class PrepareConfig(StageConfig):
    """`antrenor prepare`: read -> detect kind -> normalize -> filter -> dedup -> tokenize -> split -> write."""

    stage: ClassVar[str] = "prepare"

    input: list[str] = Field(..., min_length=1, description="Input files or folders (JSONL, JSON, CSV, TSV, Parquet, text, a saved datasets folder).")
    output: str = Field(..., description="Output folder (created; a re-run of the same inputs replaces its own files).")
    overwrite: bool = Field(False, description="Write into an output folder that holds another stage's results, "
                            "other inputs' results or files antrenor did not write (docs/output-folders.md); "
                            "only this stage's files are replaced, nothing else is deleted.")
    kind: KindName = Field("auto", description="Record kind; 'auto' detects it from the fields.")
    lang: str | None = Field("ro", description="Language of the data; 'ro' turns on Romanian-specific fixes.")
    model: str | None = Field(None, description="Model alias, hub id or local folder whose tokenizer measures lengths.")
    seed: int = Field(42, description="Seed for splitting, augmentation and built preference pairs: same input + seed "
                      "-> identical output.")
    strict: bool = Field(False, description="Fail on the first bad record instead of rejecting it and going on.")
    max_records: int | None = Field(
        None, ge=1, description="Keep only the first N valid records, in input order, and read no further: a quick "
        "trial on big data, or a demo-sized run. The report warns that the input was cut.")
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="Map canonical field names to your column names, e.g. {text: body, label: category}.",
    )
    text_unit: Literal["line", "paragraph", "file"] = Field(
        "line", description="For plain-text inputs: one record per line, per blank-line paragraph, or per file."
    )
    normalize: NormalizeConfig = Field(default_factory=NormalizeConfig, description="Text normalization.")
    filters: FilterConfig = Field(default_factory=FilterConfig, description="Record filters.")
    build_preference: BuildPreferenceConfig = Field(
        default_factory=BuildPreferenceConfig, description="Preference pairs built from instruction data (off by default).")
    dedup: DedupConfig = Field(default_factory=DedupConfig, description="Deduplication.")
    split: SplitConfig = Field(default_factory=SplitConfig, description="Train/validation/test split.")
    augment: AugmentConfig = Field(default_factory=AugmentConfig, description="Augmentation of train.")

    @field_validator("input", mode="before")
    @classmethod
    def _one_input_is_a_list(cls, value):
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_combinations(self) -> "PrepareConfig":
        if self.filters.too_long == "truncate" and self.kind not in ("auto", "text", "classification"):
            raise ValueError(
                f"filters.too_long=truncate works for text and classification records, not {self.kind}: "
                "use drop (cutting an answer or a conversation would teach the model to stop mid-way)"
            )
        if self.build_preference.rejected and self.kind not in ("auto", "instruction", "chat", "completion"):
            raise ValueError(
                f"build_preference makes pairs from instruction, chat or completion records, not {self.kind}: "
                "set kind to one of those (or auto), or leave build_preference.rejected unset"
            )
        if self.filters.max_length is not None and self.model is None:
            raise ValueError("filters.max_length counts tokens, so it needs --model (a tokenizer to count with)")
        return self

    @property
    def fix_cedilla(self) -> bool:
        return fixes_cedilla(self.normalize.fix_cedilla, self.lang)

    def doubts(self) -> list[str]:
        doubts = []
        if self.dedup.near and self.dedup.threshold < 0.6:
            doubts.append(
                f"dedup.threshold={self.dedup.threshold} is low: records sharing little text will be "
                "dropped as near-duplicates (0.8-0.9 is usual)"
            )
        if self.split.validation + self.split.test > 0.5:
            doubts.append("validation + test take over half of the data: little is left to train on")
        if self.augment.strip_diacritics and (self.lang or "") != "ro":
            doubts.append("augment.strip_diacritics is meant for Romanian (lang: ro)")
        return doubts
