"""Settings of task `rl` (online RL with GRPO): sampling, the KL pull, and the rewards, declared in YAML.

    task: rl
    method: grpo            # GRPO with LoRA; `method: full` + `rl.algorithm: grpo` trains every weight
    rl:
      num_generations: 4
      rewards:
        - {type: model, model: runs/legal/reward}             # a reward model (`train --task reward` output)
        - {type: length, min: 3, max: 30, unit: words}
        - {type: regex, pattern: "^[A-ZĂÂÎȘȚ]", weight: 0.5}
        - {type: classifier, model: runs/register/model, label: formal}
        - {type: reference, metric: chrf}                     # similarity to the data's own answer
        - {type: function, function: my_rewards:politeness}   # any TRL reward function
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from antrenor.config import StrictModel

RL_ALGORITHMS = ("grpo",)


class _Reward(StrictModel):
    weight: float = Field(1.0, description="Weight of this reward in the sum GRPO ranks completions by.")


class ModelReward(_Reward):
    """A reward model's score of prompt + completion (chat template applied, as the reward model was trained)."""

    type: Literal["model"]
    model: str = Field(..., description="A `train --task reward` output (full or adapter), or a hub id / HF folder of a "
                       "sequence-classification model with one output.")


class LengthReward(_Reward):
    """1 inside [min, max]; below min: length/min; above max: max/length (so 0..1, smooth)."""

    type: Literal["length"]
    min: int | None = Field(None, ge=0, description="Shortest length that earns the full reward.")
    max: int | None = Field(None, ge=1, description="Longest length that earns the full reward.")
    unit: Literal["words", "characters", "tokens"] = Field("words", description="What the bounds count.")

    @model_validator(mode="after")
    def _bounds(self) -> "LengthReward":
        if self.min is None and self.max is None:
            raise ValueError("a length reward needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"length reward: min {self.min} is above max {self.max}")
        return self


class RegexReward(_Reward):
    """1 when the completion matches the pattern (Python `re`), else 0: a format check."""

    type: Literal["regex"]
    pattern: str = Field(..., description="Regular expression (Python syntax).")
    full_match: bool = Field(False, description="The whole completion must match (re.fullmatch); else re.search.")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as error:
            raise ValueError(f"regex reward: pattern {pattern!r} does not compile ({error})") from None
        return pattern


class ClassifierReward(_Reward):
    """A classifier's probability of one label for the completion (e.g. register: formal)."""

    type: Literal["classifier"]
    model: str = Field(..., description="A `train --task classification` output, or a hub id / HF folder of a classifier.")
    label: str = Field(..., description="The label whose probability is the reward.")


class ReferenceReward(_Reward):
    """Similarity of the completion to the data's own answer (instruction output, last chat turn, chosen answer)."""

    type: Literal["reference"]
    metric: Literal["chrf", "exact"] = Field("chrf", description="chrf: character n-gram F-score / 100 (sacrebleu); "
                                            "exact: 1 if equal after trimming whitespace.")


class FunctionReward(_Reward):
    """A Python function, called as TRL calls reward functions: f(prompts, completions, reference, **kw) -> floats.

    One float (or None: no reward) per completion; prompts and completions are lists of chat messages, and
    `reference` holds each prompt's answer from the data (or None)."""

    type: Literal["function"]
    function: str = Field(..., description="Dotted path: package.module:function (or package.module.function); the "
                          "current directory is importable.")


RewardSpec = Annotated[ModelReward | LengthReward | RegexReward | ClassifierReward | ReferenceReward | FunctionReward,
                       Field(discriminator="type")]


class RLConfig(StrictModel):
    """For task `rl`: GRPO (TRL's GRPOTrainer) sampling, KL and rewards. PPO left TRL's trainers (1.x): not offered."""

    algorithm: Literal["grpo"] = Field("grpo", description="grpo: completions are ranked within each prompt's group; "
                                       "`method: grpo` is short for this with method lora.")
    rewards: list[RewardSpec] = Field(default_factory=list, description="What a completion earns: model, length, regex, "
                                      "classifier, reference, function (a weighted sum; see the module docs).")
    num_generations: int = Field(4, ge=2, description="Completions sampled per prompt (the group GRPO compares within).")
    max_completion_length: int = Field(64, ge=1, description="Tokens generated per completion at most.")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature for the completions.")
    beta: float = Field(0.04, ge=0, description="KL coefficient towards the reference (the base; with LoRA the adapter "
                        "switched off, no copy). 0 drops the KL term and its logging.")
    eval_prompts: int = Field(16, ge=1, description="Validation prompts sampled at each evaluation (generation is slow on CPU).")
