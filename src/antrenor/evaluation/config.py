"""The `eval` stage's config: which models, on which split, with which suites.

The base model defaults to the one the (first) tuned model was trained from, read from its
manifest, so `antrenor eval --model runs/x/model --data runs/x/data` compares before and after.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from antrenor.config import StageConfig, StrictModel

Suite = Literal["metrics", "robustness", "ood", "forgetting"]
ALIGNED_LM_TASKS = ("preference", "rl")  # causal LMs tuned on preferences or rewards: judged, margins on pairs
PERTURBATION_NAMES = ("no_diacritics", "cedilla", "typos", "casing", "punctuation", "whitespace")


class RobustnessConfig(StrictModel):
    """Perturbed copies of the test inputs, and an adversarial attack on classifiers."""

    perturbations: list[Literal["no_diacritics", "cedilla", "typos", "casing", "punctuation", "whitespace"]] = Field(
        default_factory=lambda: list(PERTURBATION_NAMES), description="Perturbations applied to what a user types.")
    rate: float = Field(0.1, ge=0.0, le=1.0, description="Share of words (or characters' chances) a noisy perturbation touches.")
    max_examples: int | None = Field(
        100, ge=1, description="Test examples perturbed (a seeded sample); generation is slow, so this keeps it bounded.")
    attack: bool = Field(True, description="Classifiers: greedy word-substitution attack until the label flips.")
    attack_examples: int = Field(20, ge=1, description="Examples put to the attack (ones the model already gets wrong are skipped).")
    max_change_ratio: float = Field(0.2, gt=0.0, le=1.0, description="The attack gives up after changing this share of words.")


class OodConfig(StrictModel):
    """Out-of-distribution inputs: metrics on them and how well the model tells them apart."""

    max_examples: int | None = Field(200, ge=1, description="OOD examples used (a seeded sample).")


class ForgettingConfig(StrictModel):
    """General ability before vs after fine-tuning."""

    reference: list[str] | None = Field(
        None, description="Text files (one sample a line); default: the general Romanian and English text shipped with antrenor.")
    max_lines: int = Field(200, ge=1, description="Reference lines per file.")
    threshold: float = Field(0.10, gt=0.0, description="Flag forgetting when a figure worsens by more than this share (0.10 = 10 %).")
    probes: bool = Field(True, description="Chat models: a few general questions with known answers, base vs tuned.")


class EvalConfig(StageConfig):
    """Evaluate a base model and tuned models on the same split: task metrics with confidence
    intervals and significance, robustness to perturbed and adversarial input, out-of-distribution
    detection, and forgetting of general ability. Aligned models: reward models' pairwise accuracy; for
    preference- and RL-tuned LMs, held-out chosen-vs-rejected margins and, with a judge, the win rate
    against the base. One HTML/Markdown report and metrics.json."""

    stage: ClassVar[str] = "eval"

    models: list[str] = Field(default_factory=list, description="Tuned model folders (antrenor train outputs), hub ids or aliases.")
    base: str | None = Field(
        "auto", description="Base model to compare against: auto (from the tuned model's manifest), a name, or none.")
    data: str = Field(..., description="A folder written by `antrenor prepare`.")
    output: str = Field(..., description="Output folder for the report, metrics.json and predictions.jsonl.")
    overwrite: bool = Field(False, description="Write into an output folder that holds another stage's results, "
                            "other inputs' results or files antrenor did not write (docs/output-folders.md); "
                            "only this stage's files are replaced, nothing else is deleted.")
    split: Literal["test", "validation", "train"] = Field("test", description="The split evaluated.")
    suite: list[Suite] = Field(default_factory=lambda: ["metrics", "robustness", "ood", "forgetting"],
                               description="What to evaluate: metrics, robustness, ood, forgetting.")
    ood: str | None = Field(None, description="OOD data: a file or prepared folder of the same kind (needed by the ood suite).")
    task: Literal["auto", "sft", "classification", "clm", "mlm", "reward", "preference", "rl"] = Field(
        "auto", description="auto: from the tuned model's manifest, else from the data kind. reward: reward models "
        "(pairwise accuracy on held-out pairs); preference, rl: aligned LMs (chosen-vs-rejected margins, judged answers).")
    judge: str | None = Field(
        None, description="Tasks preference and rl: a reward model (a `train --task reward` output, full or adapter, or a "
        "hub id / HF folder of a sequence-classification model with one output) that scores every model's generated "
        "answers; gives mean reward per model and the win rate of each tuned model against the base.")
    max_examples: int | None = Field(None, ge=1, description="Evaluate only this many examples of the split (a seeded sample).")
    kshot: Annotated[int, Field(ge=0, le=64)] | Literal["auto"] = Field(
        "auto", description="Language-model tasks (sft): the base is also scored with k solved training examples before "
        "each prompt, the honest baseline of a pretrained model; auto: as many as fit kshot_max_tokens (at most "
        "kshot_max); 0: zero-shot only. The tuned model is judged against the stronger of the two.")
    kshot_max: int = Field(8, ge=1, description="auto k-shot: examples at most.")
    kshot_max_tokens: int = Field(1024, ge=64, description="auto k-shot: the prompt (shots + query + answer) fits in this "
                                  "many tokens.")
    headline: str = Field(
        "auto", description="The metric that decides whether the tuned model beat its strongest baseline. auto: accuracy "
        "for classifiers; for sft exact_match when the answers are labels (at most 10 distinct answers of at most 3 "
        "words, e.g. `pozitiv`/`negativ`), else rougeL; or name one the task reports (chrf, bleu, rouge1, macro_f1...).")
    max_new_tokens: int = Field(64, ge=1, description="Generation: tokens generated per answer at most.")
    max_length: int = Field(512, ge=8, description="Tokens per example for scoring (longer ones are cut from the left).")
    batch_size: int = Field(8, ge=1, description="Examples per forward pass.")
    bootstrap_samples: int = Field(1000, ge=100, description="Resamples for confidence intervals and paired tests.")
    seed: int = Field(0, description="Seed for sampling, perturbations and bootstrap.")
    cv: int | None = Field(None, ge=2, le=20, description="k-fold cross-validation (classification): train and evaluate k folds.")
    train_config: str | None = Field(None, description="cv mode: the train config (YAML) each fold trains with.")
    robustness: RobustnessConfig = Field(default_factory=RobustnessConfig, description="Robustness settings.")
    ood_detection: OodConfig = Field(default_factory=OodConfig, description="OOD settings.")
    forgetting: ForgettingConfig = Field(default_factory=ForgettingConfig, description="Forgetting settings.")
    trust_remote_code: bool = Field(False, description="Run model code shipped with a hub model.")
    allow_pickle: bool = Field(False, description="Allow loading .bin (pickle) weights.")

    @model_validator(mode="after")
    def _check_combinations(self) -> "EvalConfig":
        if not self.models and not self.cv:
            raise ValueError("models: give at least one model to evaluate (--model DIR)")
        if self.cv and self.train_config is None:
            raise ValueError("cv needs train_config: the YAML each fold trains with (its data key is replaced per fold)")
        if self.judge and self.task not in ("auto", *ALIGNED_LM_TASKS):
            raise ValueError(judge_misuse(self.task))
        return self

    @property
    def compare_base(self) -> bool:
        return self.base not in (None, "none")


def judge_misuse(task: str) -> str:
    return (f"judge scores the answers an aligned LM generates, so it applies to tasks preference and rl, not {task}: "
            "drop judge, or evaluate a `train --task preference` / `--task rl` output")
