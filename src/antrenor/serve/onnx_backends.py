"""The ONNX Runtime serving backends: the same protocols as the PyTorch ones (see backends.py).

`antrenor export --format onnx` writes `model.onnx` (and `model.int8.onnx` with `--quantize
int8`) beside the tokenizer and config. `--model` may name the folder (model.onnx is served) or
one of the .onnx files in it. Causal LMs decode with the exported key/value cache; sampling
(temperature, top_p) runs in NumPy with a per-request generator, so a seeded request repeats.

    >>> backend = load_onnx_backend("runs/demo/legal-classification/export/model.int8.onnx")
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from antrenor.errors import ConfigError
from antrenor.serve.backend_api import (
    GenerationRequest,
    GenerationResult,
    Prediction,
    context_length,
    predictions_from,
    serving_task,
)
from antrenor.serve.text_stream import TextStream, cut_at_stop

DEFAULT_FILE = "model.onnx"


def load_onnx_backend(model: str) -> Any:
    path = Path(model)
    folder, file = (path.parent, path) if path.suffix == ".onnx" else (path, path / DEFAULT_FILE)
    if not file.is_file():
        raise ConfigError(f"{file} does not exist",
                          problems=[f"export the model first: antrenor export --model <trained> --output {folder} --format onnx"])
    from antrenor.models.registry import load_tokenizer

    tokenizer = load_tokenizer(str(folder))
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    task = serving_task(folder)
    if task == "classification":
        return OnnxClassifierBackend(file, tokenizer, config)
    return OnnxGenerator(file, tokenizer, config)


class OnnxGenerator:
    kind = "generation"

    def __init__(self, file: Path, tokenizer: Any, config: dict[str, Any]):
        from antrenor.models.chat import end_of_turn_ids, ensure_chat_template
        from antrenor.models.generation import pad_token_id
        from antrenor.models.onnx_runtime import OnnxCausalLM

        self.runner, self.tokenizer = OnnxCausalLM(file), tokenizer
        ensure_chat_template(tokenizer)
        self.pad_id, self.end_ids = pad_token_id(tokenizer), set(end_of_turn_ids(tokenizer))
        self.context_length = context_length(config, tokenizer)

    def encode_chat(self, messages: list[dict[str, str]]) -> list[int]:
        from antrenor.models.chat import render_ids

        return render_ids(messages, self.tokenizer, generation_prompt=True)  # as training rendered it

    def encode_prompt(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text))

    def generate(self, requests: list[GenerationRequest], should_stop: Callable[[], bool]) -> list[GenerationResult]:
        limit = max(r.max_tokens for r in requests)
        answers = self.runner.generate([r.prompt_ids for r in requests], limit, self.end_ids, self.pad_id,
                                       choose=_chooser(requests[0]), should_stop=should_stop)
        return [self._result(r, ids[: r.max_tokens]) for r, ids in zip(requests, answers)]

    def stream(self, request: GenerationRequest, on_text: Callable[[str], None],
               should_stop: Callable[[], bool]) -> GenerationResult:
        text = TextStream(self._decode, request.stop)
        answer = self.runner.generate([request.prompt_ids], request.max_tokens, self.end_ids, self.pad_id,
                                      on_token=lambda _row, token: on_text(text.push([token])),
                                      choose=_chooser(request), should_stop=lambda: text.stopped or should_stop())[0]
        on_text(text.finish())
        result = self._result(request, answer)
        return GenerationResult(text.sent, result.prompt_tokens, result.completion_tokens,
                                "stop" if text.stopped else result.finish_reason)

    def _result(self, request: GenerationRequest, ids: list[int]) -> GenerationResult:
        reason = "length" if len(ids) >= request.max_tokens else "stop"
        generated = len(ids) + (reason == "stop")  # the end-of-turn token was generated too
        text, _ = cut_at_stop(self._decode(ids), request.stop)
        return GenerationResult(text, len(request.prompt_ids), min(generated, request.max_tokens), reason)

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)


def _chooser(request: GenerationRequest) -> Callable[[np.ndarray], np.ndarray] | None:
    """None (greedy) at temperature 0, else nucleus sampling with the request's own generator."""
    if request.temperature == 0:
        return None
    rng = np.random.default_rng(request.seed)

    def choose(logits: np.ndarray) -> np.ndarray:
        scaled = logits.astype(np.float64) / request.temperature
        probabilities = np.exp(scaled - scaled.max(axis=-1, keepdims=True))
        probabilities /= probabilities.sum(axis=-1, keepdims=True)
        chosen = []
        for row in probabilities:
            order = np.argsort(row)[::-1]
            cumulative = np.cumsum(row[order])
            keep = order[: int(np.searchsorted(cumulative, request.top_p) + 1)]
            chosen.append(rng.choice(keep, p=row[keep] / row[keep].sum()))
        return np.array(chosen, dtype=np.int64)

    return choose


class OnnxClassifierBackend:
    kind = "classification"

    def __init__(self, file: Path, tokenizer: Any, config: dict[str, Any]):
        from antrenor.models.onnx_runtime import OnnxClassifier

        self.runner, self.tokenizer = OnnxClassifier(file), tokenizer
        id2label = config.get("id2label") or {}
        self.labels = [str(id2label.get(str(i), i)) for i in range(len(id2label) or config.get("num_labels", 2))]
        self.multi_label = config.get("problem_type") == "multi_label_classification"
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.context_length = context_length(config, tokenizer)

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text))

    def classify(self, inputs: list[list[int]]) -> list[Prediction]:
        width = max(len(ids) for ids in inputs)
        batch = {"input_ids": np.array([x + [self.pad_id] * (width - len(x)) for x in inputs]),
                 "attention_mask": np.array([[1] * len(x) + [0] * (width - len(x)) for x in inputs])}
        batch["token_type_ids"] = np.zeros_like(batch["input_ids"])
        logits = self.runner.logits(batch).astype(np.float64)
        if self.multi_label:
            probabilities = 1 / (1 + np.exp(-logits))
        else:
            shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
            probabilities = shifted / shifted.sum(axis=1, keepdims=True)
        return predictions_from(probabilities.tolist(), self.labels, self.multi_label)
