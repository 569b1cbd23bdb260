"""The inference endpoints: chat and text completion (streamed or not), and classification."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from typing import Any

from starlette.responses import JSONResponse, Response, StreamingResponse

from antrenor.serve.backends import GenerationRequest, special_tail, truncate_ids
from antrenor.serve.batching import Job
from antrenor.serve.openai_schema import (
    ChatRequest,
    ChunkMaker,
    ClassifyRequest,
    CompletionRequest,
    chat_response,
    completion_response,
)
from antrenor.serve.service import ApiError, Call, Service, parse_body


class Endpoints:
    def __init__(self, service: Service, normalize: Callable[[str], str] | None = None, trained_length: int | None = None):
        self.service = service
        self.cfg, self.backend = service.cfg, service.backend
        self.normalize = normalize or (lambda text: text)  # as the training data was (see normalization.py)
        if self.backend.kind == "classification":
            # a classifier reads what it was trained to read: longer inputs are cut, as prepare and train cut them
            self.input_limit = min(self.backend.context_length, trained_length or self.backend.context_length)
            tokenizer = getattr(self.backend, "tokenizer", None)
            self.special_tail = special_tail(tokenizer) if tokenizer is not None else 0

    async def chat(self, raw: bytes, call: Call) -> Response:
        self.service.require_kind("generation", call.endpoint)
        body: ChatRequest = parse_body(ChatRequest, raw)
        self.service.check_model(body.model)
        messages = [{"role": "system" if m.role == "developer" else m.role, "content": self.normalize(m.text)}
                    for m in body.messages]
        call.inputs = [next((m["content"] for m in reversed(messages) if m["role"] == "user"), messages[-1]["content"])]
        prompt = self._encode(self.backend.encode_chat, messages)
        request = self._generation_request(body, prompt, body.max_completion_tokens or body.max_tokens)
        chunks = ChunkMaker(True, self.service.name, self.service.version)
        if body.stream:
            return await self._stream(request, call, chunks, bool(body.stream_options and body.stream_options.include_usage))
        (result,) = await self.service.run([Job("generate", request, key=request.batch_key)], call)
        self.service.account(call, [result])
        return JSONResponse(chat_response(self.service.name, self.service.version, result.text, result.finish_reason,
                                          result.prompt_tokens, result.completion_tokens))

    async def completions(self, raw: bytes, call: Call) -> Response:
        self.service.require_kind("generation", call.endpoint)
        body: CompletionRequest = parse_body(CompletionRequest, raw)
        self.service.check_model(body.model)
        prompts = [self.normalize(p) for p in body.prompts]
        if not prompts:
            raise ApiError(400, "prompt: give a prompt (a string or a list of strings)", "invalid_value", "prompt")
        if body.stream and len(prompts) > 1:
            raise ApiError(400, "prompt: streaming answers one prompt; send a string, not a list", "invalid_value", "prompt")
        call.inputs = prompts
        requests = [self._generation_request(body, self._encode(self.backend.encode_prompt, p), body.max_tokens)
                    for p in prompts]
        if body.stream:
            chunks = ChunkMaker(False, self.service.name, self.service.version)
            return await self._stream(requests[0], call, chunks, bool(body.stream_options and body.stream_options.include_usage))
        results = await self.service.run([Job("generate", r, key=r.batch_key) for r in requests], call)
        self.service.account(call, results)
        return JSONResponse(completion_response(self.service.name, self.service.version,
                                                [(r.text, r.finish_reason) for r in results],
                                                call.prompt_tokens or 0, call.completion_tokens or 0))

    async def classify(self, raw: bytes, call: Call) -> Response:
        self.service.require_kind("classification", call.endpoint)
        body: ClassifyRequest = parse_body(ClassifyRequest, raw)
        self.service.check_model(body.model)
        texts = [self.normalize(t) for t in body.texts]
        if not texts or len(texts) > self.cfg.max_inputs:
            raise ApiError(400, f"input: give 1 to {self.cfg.max_inputs} texts (got {len(texts)})", "invalid_value", "input")
        call.inputs = texts
        encoded = [self._encode(self.backend.encode, text) for text in texts]
        for index, ids in enumerate(encoded):
            if not ids:
                where = "input" if isinstance(body.input, str) else f"input.{index}"
                raise ApiError(400, f"{where}: empty once tokenized; give some text", "empty_input", where)
        cut = [len(ids) > self.input_limit for ids in encoded]
        encoded = [truncate_ids(ids, self.input_limit, self.special_tail) for ids in encoded]
        (predictions,) = await self.service.run([Job("classify", encoded)], call)
        call.outputs = [p.as_dict() for p in predictions]
        data = [{"index": i, **output, "truncated": was_cut} for i, (output, was_cut) in enumerate(zip(call.outputs, cut))]
        tokens = sum(len(ids) for ids in encoded)
        return JSONResponse({"object": "list", "model": self.service.name, "model_version": self.service.version,
                             "data": data, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    def _encode(self, encode: Any, value: Any) -> list[int]:
        try:
            return encode(value)
        except Exception as exc:
            if type(exc).__module__.startswith("jinja2"):  # e.g. a template that refuses a system message
                raise ApiError(400, f"the model's chat template refused the messages: {exc}", "invalid_messages",
                               "messages") from None
            if isinstance(exc, (ValueError, TypeError)):
                raise ApiError(400, f"the model cannot read this input: {exc}", "invalid_input") from None
            raise

    def _generation_request(self, body: Any, prompt: list[int], asked: int | None) -> GenerationRequest:
        if not prompt:
            raise ApiError(400, "the prompt is empty once tokenized: give some text", "empty_prompt",
                           "messages" if isinstance(body, ChatRequest) else "prompt")
        if body.n != 1:
            raise ApiError(400, f"n: this server returns one answer per request (n=1), got n={body.n}; "
                                "send several requests instead", "unsupported_value", "n")
        cap, context = self.cfg.max_tokens_cap, self.backend.context_length
        if asked is not None and asked > cap:
            raise ApiError(400, f"max_tokens: {asked} is above this server's limit of {cap}", "max_tokens_too_large",
                           "max_tokens")
        if len(prompt) >= context or (asked is not None and len(prompt) + asked > context):
            raise ApiError(400, f"this model's context is {context} tokens, but the request needs {len(prompt) + (asked or 1)} "
                                f"({len(prompt)} in the prompt, {asked or 1} to generate); shorten the prompt or lower "
                                "max_tokens", "context_length_exceeded", "messages" if isinstance(body, ChatRequest) else "prompt")
        max_tokens = asked or min(self.cfg.answer_tokens, context - len(prompt))
        return GenerationRequest(prompt, max_tokens, body.temperature, body.top_p, body.seed, body.stops)

    async def _stream(self, request: GenerationRequest, call: Call, chunks: ChunkMaker, include_usage: bool) -> Response:
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()

        def on_text(delta: str) -> None:  # called on the model's thread
            if delta:
                loop.call_soon_threadsafe(events.put_nowait, delta)

        job = Job("stream", (request, on_text), batchable=False)
        future = self.service.submit(job)
        future.add_done_callback(lambda done: loop.call_soon_threadsafe(events.put_nowait, done))
        first = await self._next_event(events, job, call)  # before the status line: a timeout is still a 504
        if isinstance(first, Future) and first.exception() is not None:
            raise self.service.failure(first.exception())  # before any text: an ordinary error response
        call.deferred = True
        return StreamingResponse(self._events(first, events, job, call, chunks, include_usage),
                                 media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    async def _next_event(self, events: asyncio.Queue, job: Job, call: Call) -> Any:
        if not events.empty():
            return events.get_nowait()
        try:
            return await asyncio.wait_for(events.get(), max(call.deadline - time.monotonic(), 0.001))
        except asyncio.TimeoutError:
            raise self.service.timed_out([job]) from None

    async def _events(self, event: Any, events: asyncio.Queue, job: Job, call: Call, chunks: ChunkMaker,
                      include_usage: bool) -> AsyncIterator[str]:
        sent: list[str] = []
        try:
            if (first := chunks.first()) is not None:
                yield _sse(first)
            while not isinstance(event, Future):
                sent.append(event)
                yield _sse(chunks.text(event))
                event = await self._next_event(events, job, call)
            result = event.result()
            self.service.account(call, [result])
            yield _sse(chunks.text("", result.finish_reason))
            if include_usage:
                yield _sse(chunks.usage(result.prompt_tokens, result.completion_tokens))
            yield "data: [DONE]\n\n"
        except ApiError as error:  # the 200 status line is sent: report the timeout inside the stream
            call.error = error.message
            yield _sse(error.body)
        except (asyncio.CancelledError, GeneratorExit):
            call.error = call.error or "the client disconnected before the answer ended"
            raise
        except Exception as error:
            call.error = f"internal error: {type(error).__name__}: {error}"
            yield _sse({"error": {"message": call.error, "type": "server_error", "code": "internal_error", "param": None}})
        finally:
            job.cancelled.set()  # stops generation if the stream ended early; no-op once it finished
            if not call.outputs:
                call.outputs = ["".join(sent)]
            self.service.finish(call)


def _sse(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"
