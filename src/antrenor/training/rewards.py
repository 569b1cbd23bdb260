"""The rewards of task `rl`, built from their YAML declarations (rl_config.py) as TRL reward functions.

Each is a callable `f(prompts, completions, **columns) -> list[float]` named after its declaration, so
TRL logs `rewards/<name>/mean` for each. Completions arrive as chat messages (the data is conversational);
`reference` is the data's own answer for the prompt (or None).
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from antrenor.errors import ConfigError
from antrenor.training.rl_config import (
    ClassifierReward,
    FunctionReward,
    LengthReward,
    ModelReward,
    ReferenceReward,
    RegexReward,
    RewardSpec,
)

SCORING_BATCH = 8
MAX_SCORED_TOKENS = 2048


def build_rewards(specs: Sequence[RewardSpec], tokenizer: Any, *, trust_remote_code: bool = False,
                  allow_pickle: bool = False) -> tuple[list[Callable[..., list[float]]], list[float]]:
    """The reward callables and their weights, in declaration order; names made unique (`regex`, `regex_2`)."""
    functions, taken = [], set()
    for spec in specs:
        function = _build(spec, tokenizer, trust_remote_code, allow_pickle)
        name, n = function.__name__, 2
        while name in taken:
            name, n = f"{function.__name__}_{n}", n + 1
        taken.add(name)
        function.__name__ = name
        functions.append(function)
    return functions, [spec.weight for spec in specs]


def _build(spec: RewardSpec, tokenizer: Any, trust_remote_code: bool, allow_pickle: bool) -> Any:
    if isinstance(spec, LengthReward):
        return LengthScore(spec, tokenizer)
    if isinstance(spec, RegexReward):
        return RegexScore(spec)
    if isinstance(spec, ReferenceReward):
        return ReferenceScore(spec)
    if isinstance(spec, FunctionReward):
        return _NamedFunction(import_function(spec.function))
    if isinstance(spec, ModelReward):
        return RewardModelScore(spec.model, trust_remote_code=trust_remote_code, allow_pickle=allow_pickle)
    if isinstance(spec, ClassifierReward):
        return ClassifierScore(spec, trust_remote_code=trust_remote_code, allow_pickle=allow_pickle)
    raise TypeError(f"unknown reward {spec!r}")


def completion_text(completion: Any) -> str:
    """A completion's text: TRL passes a list of messages for conversational data, a string otherwise."""
    if isinstance(completion, list):
        return "".join(message.get("content") or "" for message in completion)
    return completion


class LengthScore:
    __name__ = "length"

    def __init__(self, spec: LengthReward, tokenizer: Any):
        self.spec, self.tokenizer = spec, tokenizer

    def length(self, text: str) -> int:
        if self.spec.unit == "characters":
            return len(text)
        if self.spec.unit == "tokens":
            return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        return len(text.split())

    def __call__(self, completions: list[Any], **_: Any) -> list[float]:
        return [length_score(self.length(completion_text(c)), self.spec.min, self.spec.max) for c in completions]


def length_score(length: int, shortest: int | None, longest: int | None) -> float:
    if shortest and length < shortest:
        return length / shortest
    if longest is not None and length > longest:
        return longest / length
    return 1.0


class RegexScore:
    __name__ = "regex"

    def __init__(self, spec: RegexReward):
        self.pattern = re.compile(spec.pattern)
        self.match = self.pattern.fullmatch if spec.full_match else self.pattern.search

    def __call__(self, completions: list[Any], **_: Any) -> list[float]:
        return [1.0 if self.match(completion_text(c).strip()) else 0.0 for c in completions]


class ReferenceScore:
    __name__ = "reference"

    def __init__(self, spec: ReferenceReward):
        self.metric = spec.metric

    def __call__(self, completions: list[Any], reference: list[str | None] | None = None, **_: Any) -> list[float | None]:
        references = reference or [None] * len(completions)
        return [None if ref is None else self.score(completion_text(c), ref) for c, ref in zip(completions, references)]

    def score(self, text: str, reference: str) -> float:
        if self.metric == "exact":
            return float(text.strip() == reference.strip())
        from sacrebleu.metrics import CHRF

        return CHRF().sentence_score(text.strip(), [reference.strip()]).score / 100


class _NamedFunction:
    """A user's function, under its own name in the logs (a wrapper, so renaming duplicates leaves it alone)."""

    def __init__(self, function: Callable[..., Any]):
        self.function, self.__name__ = function, getattr(function, "__name__", "function")

    def __call__(self, **kwargs: Any) -> Any:
        return self.function(**kwargs)


def import_function(path: str) -> Callable[..., Any]:
    """`package.module:function` or `package.module.function`, with the current directory importable."""
    module_name, _, name = path.partition(":") if ":" in path else path.rpartition(".")
    if not module_name or not name:
        raise ConfigError(f"reward function {path!r}: write it as module:function, e.g. my_rewards:politeness")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        function = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as error:
        raise ConfigError(f"reward function {path!r} cannot be imported: {error}",
                          problems=[f"make {module_name}.py importable (run from its folder, or pip install its package)"]) from None
    if not callable(function):
        raise ConfigError(f"reward function {path!r} is not callable")
    return function


def _load(source: str, task: str, trust_remote_code: bool, allow_pickle: bool) -> Any:
    from antrenor.models.loading import load_tuned

    return load_tuned(source, task, trust_remote_code=trust_remote_code, allow_pickle=allow_pickle, bf16=False)


class RewardModelScore:
    """A reward model's score of the whole conversation, rendered with the reward model's own chat template: the
    same loading and scoring as `antrenor eval --judge`, so training and evaluation see the same rewards."""

    __name__ = "reward_model"

    def __init__(self, source: str, *, trust_remote_code: bool = False, allow_pickle: bool = False):
        from antrenor.models.loading import load_judge

        loaded = load_judge(source, trust_remote_code=trust_remote_code, allow_pickle=allow_pickle)
        self.model, self.tokenizer = loaded.model, loaded.tokenizer

    def __call__(self, prompts: list[Any], completions: list[Any], **_: Any) -> list[float]:
        from antrenor.models.pair_scoring import reward_scores

        return reward_scores(self.model, self.tokenizer, prompts, completions, SCORING_BATCH, MAX_SCORED_TOKENS)


class ClassifierScore:
    """A classifier's probability of `label` for the completion's text alone."""

    def __init__(self, spec: ClassifierReward, *, trust_remote_code: bool = False, allow_pickle: bool = False):
        loaded = _load(spec.model, "classification", trust_remote_code, allow_pickle)
        self.model, self.tokenizer = loaded.model, loaded.tokenizer
        label2id = {str(k): int(v) for k, v in (self.model.config.label2id or {}).items()}
        if spec.label not in label2id:
            raise ConfigError(f"classifier reward: {spec.model} has no label {spec.label!r}",
                              problems=[f"its labels: {', '.join(sorted(label2id))}"])
        self.index = label2id[spec.label]
        self.multi_label = self.model.config.problem_type == "multi_label_classification"
        self.__name__ = f"classifier_{spec.label}"

    def __call__(self, completions: list[Any], **_: Any) -> list[float]:
        texts = [completion_text(c) for c in completions]

        def probability(logits: torch.Tensor) -> torch.Tensor:
            scores = logits.sigmoid() if self.multi_label else logits.softmax(-1)
            return scores[:, self.index]

        return _batched_logits(self.model, self.tokenizer, texts, probability)


@torch.inference_mode()
def _batched_logits(model: Any, tokenizer: Any, texts: list[str], pick: Callable[[torch.Tensor], torch.Tensor]) -> list[float]:
    """Classifier scores of texts, a batch at a time, right-padded (classifiers read the last non-pad token)."""
    scores: list[float] = []
    longest = min(tokenizer.model_max_length, MAX_SCORED_TOKENS)
    for start in range(0, len(texts), SCORING_BATCH):
        batch = tokenizer(texts[start:start + SCORING_BATCH], return_tensors="pt", padding=True, truncation=True,
                          max_length=longest, padding_side="right")
        scores.extend(float(x) for x in pick(model(**batch).logits.float()))
    return scores
