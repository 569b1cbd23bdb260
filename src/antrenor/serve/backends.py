"""What the server asks of a model, and the PyTorch implementations.

Two small protocols: a `GenerationBackend` (chat and text completion) and a
`ClassificationBackend`. The server encodes prompts on the request's thread (to reject
ones too long for the context with a 400 before they queue) and hands token ids to the
batcher's worker thread, the only one that runs the model. So `generate`, `stream` and
`classify` are only ever called from that one thread; `encode_*` may run concurrently
with them and must not change shared tokenizer state (no padding/truncation arguments).

    >>> backend = load_backend("runs/legal/model", "torch")
    >>> backend.generate([GenerationRequest(backend.encode_chat([{"role": "user", "content": "Salut"}]), 16)], lambda: False)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from antrenor.errors import ConfigError
from antrenor.serve.backend_api import (
    TASK_KINDS,
    ClassificationBackend,
    GenerationBackend,
    GenerationRequest,
    GenerationResult,
    Prediction,
    context_length,
    predictions_from,
    serving_task,
)
from antrenor.serve.text_stream import TextStream, cut_at_stop


def load_backend(model_dir: str | Path, backend: str = "torch", *, task: str = "auto", bf16: bool | None = None,
                 trust_remote_code: bool = False, allow_pickle: bool = False) -> GenerationBackend | ClassificationBackend:
    """Load a served model. The ONNX backend lives in its own module, imported only when asked for."""
    if backend == "onnx":
        try:
            from antrenor.serve.onnx_backends import load_onnx_backend
        except ModuleNotFoundError as exc:
            if exc.name != "antrenor.serve.onnx_backends":
                raise ConfigError(f"ONNX backend needs {exc.name}", problems=["pip install 'antrenor[onnx]'"]) from None
            raise ConfigError("ONNX backend is not available in this version of antrenor",
                              problems=["serve the model with --backend torch"]) from None
        return load_onnx_backend(str(model_dir))
    if backend != "torch":
        raise ConfigError(f"unknown backend {backend!r}: use torch or onnx")
    from antrenor.models.loading import load_tuned
    from antrenor.models.precision import cpu_supports_bf16

    served_task = serving_task(Path(model_dir), task)
    use_bf16 = cpu_supports_bf16() if bf16 is None else bf16
    loaded = load_tuned(str(model_dir), served_task, trust_remote_code=trust_remote_code, allow_pickle=allow_pickle,
                        bf16=use_bf16 and TASK_KINDS[served_task] == "generation")
    if TASK_KINDS[served_task] == "generation":
        return TorchGenerator(loaded.model, loaded.tokenizer)
    return TorchClassifier(loaded.model, loaded.tokenizer)


class TorchGenerator:
    """A causal LM on PyTorch: greedy or sampled generate() over a left-padded batch."""

    kind = "generation"

    def __init__(self, model: Any, tokenizer: Any):
        from antrenor.models.chat import end_of_turn_ids, ensure_chat_template
        from antrenor.models.generation import pad_token_id

        self.model, self.tokenizer = model.eval(), tokenizer
        ensure_chat_template(tokenizer)  # a plain LM still answers /v1/chat/completions
        self.pad_id, self.end_ids = pad_token_id(tokenizer), end_of_turn_ids(tokenizer)
        self.context_length = context_length(model.config, tokenizer)
        self.model.config.use_cache = True
        tokenizer.encode("warm up")  # clears any saved truncation state now, not under concurrent requests

    def encode_chat(self, messages: list[dict[str, str]]) -> list[int]:
        from antrenor.models.chat import render_ids

        return render_ids(messages, self.tokenizer, generation_prompt=True)  # as training rendered it

    def encode_prompt(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text))

    def generate(self, requests: list[GenerationRequest], should_stop: Callable[[], bool]) -> list[GenerationResult]:
        from antrenor.models.generation import left_padded

        ids, mask = left_padded([r.prompt_ids for r in requests], self.pad_id)
        output = self._generate(requests, ids, mask, should_stop)
        width = ids.shape[1]
        return [self._result(r, output[row, width:].tolist()) for row, r in enumerate(requests)]

    def stream(self, request: GenerationRequest, on_text: Callable[[str], None],
               should_stop: Callable[[], bool]) -> GenerationResult:
        import torch

        text = TextStream(self._decode, request.stop)
        streamer = _TokenStreamer(lambda new_ids: on_text(text.push(new_ids)))
        ids = torch.tensor([request.prompt_ids])
        output = self._generate([request], ids, torch.ones_like(ids), lambda: text.stopped or should_stop(), streamer)
        on_text(text.finish())
        result = self._result(request, output[0, ids.shape[1]:].tolist())
        return GenerationResult(text.sent, result.prompt_tokens, result.completion_tokens,
                                "stop" if text.stopped else result.finish_reason)

    def _generate(self, requests: list[GenerationRequest], ids: Any, mask: Any, should_stop: Callable[[], bool],
                  streamer: Any = None) -> Any:
        import torch
        from transformers import GenerationConfig, StoppingCriteria, StoppingCriteriaList

        class Stop(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                return torch.full((input_ids.shape[0],), should_stop(), dtype=torch.bool)

        first = requests[0]
        settings: dict[str, Any] = {"do_sample": False}
        if first.temperature > 0:
            settings = {"do_sample": True, "temperature": first.temperature, "top_p": first.top_p, "top_k": 0}
            if first.seed is not None:
                torch.manual_seed(first.seed)
            else:
                torch.seed()  # unseeded: differ from run to run, as a client expects
        config = GenerationConfig(max_new_tokens=max(r.max_tokens for r in requests), num_beams=1, use_cache=True,
                                  eos_token_id=self.end_ids, pad_token_id=self.pad_id, **settings)
        with torch.inference_mode():
            return self.model.generate(input_ids=ids, attention_mask=mask, generation_config=config,
                                       stopping_criteria=StoppingCriteriaList([Stop()]), streamer=streamer)

    def _result(self, request: GenerationRequest, new_ids: list[int]) -> GenerationResult:
        tokens = new_ids[: request.max_tokens]
        end = next((i for i, token in enumerate(tokens) if token in self.end_ids), None)
        if end is not None:
            tokens, generated, reason = tokens[:end], end + 1, "stop"
        else:
            generated, reason = len(tokens), "length" if len(tokens) >= request.max_tokens else "stop"
        text, stopped = cut_at_stop(self._decode(tokens), request.stop)
        return GenerationResult(text, len(request.prompt_ids), generated, "stop" if stopped else reason)

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)


class _TokenStreamer:
    """generate()'s streamer hook: skips the prompt, passes each new token id on."""

    def __init__(self, on_ids: Callable[[list[int]], None]):
        self._on_ids, self._prompt_seen = on_ids, False

    def put(self, value: Any) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        self._on_ids(value.reshape(-1).tolist())

    def end(self) -> None:
        pass


class TorchClassifier:
    """A sequence classifier on PyTorch: one forward over a right-padded batch, softmax (or sigmoid) scores."""

    kind = "classification"

    def __init__(self, model: Any, tokenizer: Any):
        self.model, self.tokenizer = model.eval(), tokenizer
        config = model.config
        self.labels = [str(config.id2label.get(i, i)) for i in range(config.num_labels)]
        self.multi_label = config.problem_type == "multi_label_classification"
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.context_length = context_length(model.config, tokenizer)
        tokenizer.encode("warm up")  # clears any saved truncation state now, not under concurrent requests

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text))

    def classify(self, inputs: list[list[int]]) -> list[Prediction]:
        import torch

        width = max(len(ids) for ids in inputs)
        ids = torch.tensor([x + [self.pad_id] * (width - len(x)) for x in inputs])
        mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in inputs])
        with torch.inference_mode():
            logits = self.model(input_ids=ids, attention_mask=mask).logits.float()
        probabilities = torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=-1)
        return predictions_from(probabilities.tolist(), self.labels, self.multi_label)


def special_tail(tokenizer: Any) -> int:
    """How many special tokens the tokenizer appends to a text (BERT's [SEP]: 1), kept when cutting an input."""
    plain = tokenizer.encode("a", add_special_tokens=False)
    full = tokenizer.encode("a")
    start = next((i for i in range(len(full)) if full[i : i + len(plain)] == plain), 0)
    return max(0, len(full) - start - len(plain))


def truncate_ids(ids: list[int], limit: int, tail: int) -> list[int]:
    """The first `limit` tokens, keeping the `tail` closing special tokens."""
    if len(ids) <= limit:
        return ids
    return ids[: limit - tail] + (ids[-tail:] if tail else [])

