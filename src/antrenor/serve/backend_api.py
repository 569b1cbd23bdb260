"""What a serving backend receives and returns, whatever runs the model (PyTorch or ONNX Runtime): the
request and result types, the two backend protocols, and the small rules both backends share."""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from antrenor.errors import ConfigError

TASK_KINDS = {"sft": "generation", "clm": "generation", "classification": "classification"}


@dataclass
class GenerationRequest:
    prompt_ids: list[int]
    max_tokens: int
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()

    @property
    def batch_key(self) -> Hashable:
        """Requests share a generate() call only when they decode the same way. A seeded request runs
        alone: the same seed and prompt then always give the same answer, whatever else is queued."""
        if self.temperature == 0:
            return ("greedy",)
        if self.seed is not None:
            return ("seeded", id(self))
        return ("sample", self.temperature, self.top_p)


@dataclass
class GenerationResult:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" (end of turn or a stop string) or "length" (max_tokens reached)


@dataclass
class Prediction:
    label: str
    score: float
    scores: dict[str, float] = field(default_factory=dict)
    labels: list[str] | None = None  # multi-label classifiers: every label scored >= 0.5

    def as_dict(self) -> dict[str, Any]:
        found = {"label": self.label, "score": self.score, "scores": self.scores}
        return found if self.labels is None else {**found, "labels": self.labels}


@runtime_checkable
class GenerationBackend(Protocol):
    kind: str  # "generation"
    context_length: int

    def encode_chat(self, messages: list[dict[str, str]]) -> list[int]: ...
    def encode_prompt(self, text: str) -> list[int]: ...
    def generate(self, requests: list[GenerationRequest], should_stop: Callable[[], bool]) -> list[GenerationResult]: ...
    def stream(self, request: GenerationRequest, on_text: Callable[[str], None],
               should_stop: Callable[[], bool]) -> GenerationResult: ...


@runtime_checkable
class ClassificationBackend(Protocol):
    kind: str  # "classification"
    context_length: int
    labels: list[str]
    tokenizer: Any  # optional: lets the server keep closing special tokens when it cuts a long input

    def encode(self, text: str) -> list[int]: ...
    def classify(self, inputs: list[list[int]]) -> list[Prediction]: ...


def serving_task(folder: Path, requested: str = "auto") -> str:
    """sft, clm or classification: as configured, else from the train manifest or export.json, else the architecture."""
    if requested != "auto":
        return requested
    for name in ("manifest.json", "export.json"):
        path = folder / name
        task = json.loads(path.read_text(encoding="utf-8")).get("task") if path.is_file() else None
        if task:
            break
    else:
        config = folder / "config.json"
        architectures = []
        if config.is_file():
            architectures = json.loads(config.read_text(encoding="utf-8")).get("architectures") or []
        task = next(("sft" if a.endswith("ForCausalLM") else "classification" for a in architectures
                     if a.endswith(("ForCausalLM", "ForSequenceClassification"))), None)
    if task not in TASK_KINDS:
        raise ConfigError(f"{folder}: cannot serve a model of task {task!r}",
                          problems=["serve a text-generation (sft, clm) or classification model; set task if the folder "
                                    "has no manifest.json"])
    return task


def context_length(config: Any, tokenizer: Any) -> int:
    """Tokens the model can attend to: from its config (an object or a config.json dict), else its tokenizer, else 2048."""
    for name in ("max_position_embeddings", "n_positions", "max_seq_len"):
        value = config.get(name) if isinstance(config, dict) else getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and 0 < limit < 1_000_000 else 2048


def predictions_from(probabilities: list[list[float]], labels: list[str], multi_label: bool) -> list[Prediction]:
    """One Prediction per row of class probabilities (sigmoid scores for multi-label classifiers)."""
    predictions = []
    for row in probabilities:
        best = max(range(len(row)), key=row.__getitem__)
        scores = {label: round(p, 6) for label, p in zip(labels, row)}
        chosen = [label for label, p in zip(labels, row) if p >= 0.5] if multi_label else None
        predictions.append(Prediction(labels[best], round(row[best], 6), scores, chosen))
    return predictions
