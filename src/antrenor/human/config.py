"""The `antrenor human` configs: what a rating task holds (create), where the rating app listens (serve), and
how the report is computed (report). Same style as every stage: YAML sections or `--set`, unknown keys refused."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator

from antrenor.config import StageConfig

DEFAULT_CRITERIA = ["correctness", "fluency", "register", "helpfulness"]


class HumanCreateConfig(StageConfig):
    """`antrenor human create`: a blind rating task from `antrenor eval`'s predictions.jsonl files. Raters see
    one answer a page (Likert scores per criterion), or two models side by side as A and B (plus which is better).
    Model names stay behind opaque ids; each rater gets a secret link and their own order."""

    stage: ClassVar[str] = "human"

    predictions: list[str] = Field(..., min_length=1, description="predictions.jsonl files written by antrenor eval "
                                   "(each may hold several models, e.g. base and tuned).")
    output: str = Field(..., description="The task folder to create (refused if it already holds a task).")
    criteria: list[str] = Field(default_factory=lambda: list(DEFAULT_CRITERIA),
                                description="Likert criteria, 1-5 each; correctness, fluency, register and helpfulness "
                                "have labelled Romanian/English anchors, others a generic scale.")
    raters: list[str] | int = Field(3, description="A number of raters (named rater1..N), or their names.")
    models: list[str] | None = Field(None, description="Model labels to rate; default: every model in the predictions.")
    side_by_side: bool = Field(False, description="Two models' answers on one page as A and B, with a preference question.")
    show_reference: bool = Field(False, description="Show the reference answer to the raters.")
    max_items: int | None = Field(None, ge=1, description="Rate a seeded sample of this many prompts; default: all shared ones.")
    seed: int = Field(0, description="Seed for the sample and for each rater's page and side order.")
    title: str = Field("Evaluare umană", description="The title raters see.")

    @field_validator("criteria")
    @classmethod
    def _distinct_criteria(cls, criteria: list[str]) -> list[str]:
        cleaned = [c.strip() for c in criteria]
        if not cleaned or not all(cleaned) or len(set(cleaned)) != len(cleaned):
            raise ValueError(f"criteria {','.join(criteria)}: names must be distinct and non-empty")
        return cleaned

    @field_validator("raters")
    @classmethod
    def _valid_raters(cls, raters: list[str] | int) -> list[str] | int:
        if isinstance(raters, int):
            if raters < 1:
                raise ValueError("at least one rater is needed")
            return raters
        names = [r.strip() for r in raters if r.strip()]
        if not names or len(set(names)) != len(names):
            raise ValueError("rater names must be distinct, and at least one is needed")
        return names


class HumanServeConfig(StageConfig):
    """`antrenor human serve`: the rating web app of a task; ratings are saved to TASK/ratings.sqlite as they come."""

    stage: ClassVar[str] = "human_serve"

    task: str = Field(..., description="A task folder written by `antrenor human create`.")
    host: str = Field("127.0.0.1", description="Address to bind; the default reaches this machine only.")
    port: int = Field(8010, ge=1, le=65535, description="TCP port.")


class HumanReportConfig(StageConfig):
    """`antrenor human report`: who won, by how much, and how much the raters agreed."""

    stage: ClassVar[str] = "human_report"

    task: str = Field(..., description="A task folder written by `antrenor human create`.")
    output: str | None = Field(None, description="Report folder; default TASK/report.")
    overwrite: bool = Field(False, description="Write into a report folder that holds another task's report, another "
                            "stage's results or files antrenor did not write (docs/output-folders.md); only the "
                            "report's files are replaced, nothing else is deleted.")
    bootstrap_samples: int = Field(1000, ge=100, description="Bootstrap resamples for the confidence intervals.")
    seed: int = Field(0, description="Seed of the bootstrap.")
