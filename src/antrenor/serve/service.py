"""What happens to one inference request: auth, limits, parsing, the batcher, the log.

Every request to an inference endpoint goes through `Service.handle`, which turns each
failure into an OpenAI-style error response with the right 4xx status (a 5xx only for a
bug or a shutdown) and writes exactly one row to the request log, accepted or rejected.
A non-streamed request's row is committed before its response is sent; a streamed one's
when the stream ends.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from antrenor.records.request_log import RequestLog, utc_now
from antrenor.serve.batching import Job, MicroBatcher, QueueFull, ShuttingDown
from antrenor.serve.config import ServeConfig
from antrenor.serve.openai_schema import error_body

logger = logging.getLogger("antrenor.serve")
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 413: "invalid_request_error", 415: "invalid_request_error", 429: "rate_limit_error", 503: "server_error", 504: "timeout_error"}
UNION_TAGS = {"str", "int", "float", "bool", "list", "dict"}


class ApiError(Exception):
    """A request the server answers with an error status and an OpenAI-style error body."""

    def __init__(self, status: int, message: str, code: str | None = None, param: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.param, self.headers = status, message, code, param, headers

    @property
    def body(self) -> dict[str, Any]:
        return error_body(self.message, ERROR_TYPES.get(self.status, "server_error" if self.status >= 500
                                                         else "invalid_request_error"), self.code, self.param)

    def response(self) -> JSONResponse:
        return JSONResponse(self.body, status_code=self.status, headers=self.headers)


@dataclass
class Call:
    """One request as the log records it."""

    endpoint: str
    deadline: float
    started: float = field(default_factory=time.perf_counter)
    created_at: str = field(default_factory=utc_now)
    status: int = 200
    request: str | None = None
    inputs: list[Any] = field(default_factory=list)
    outputs: list[Any] = field(default_factory=list)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error: str | None = None
    deferred: bool = False  # a stream: logged when it ends


def parse_body(model: type[BaseModel], raw: bytes) -> Any:
    """The body as `model`; 400 naming every wrong field otherwise."""
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the request body is not valid JSON: {exc}", "invalid_json") from None
    except RecursionError:
        raise ApiError(400, "the request body is nested too deeply", "invalid_json") from None
    if not isinstance(data, dict):
        raise ApiError(400, f"the request body must be a JSON object, not {type(data).__name__}", "invalid_json")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems: dict[str, list[str]] = {}
        for error in exc.errors(include_url=False):
            parts = [str(p) for p in error["loc"] if isinstance(p, int) or ("[" not in str(p) and "-" not in str(p)
                                                                               and p not in UNION_TAGS)]
            problems.setdefault(".".join(parts) or "(body)", []).append(error["msg"])
        text = "; ".join(f"{where}: {' or '.join(dict.fromkeys(msgs))}" for where, msgs in problems.items())
        raise ApiError(400, f"invalid request: {text}", "invalid_value", next(iter(problems))) from None


def host_name(netloc: str) -> str:
    """The name in a Host header or URL authority, lowercased, without port or brackets ('' when unreadable)."""
    try:
        return (urlsplit("//" + netloc).hostname or "").rstrip(".")
    except ValueError:
        return ""


def browser_problem(host: str | None, origin: str | None, accepted: set[str] | None) -> tuple[str, str] | None:
    """Why a request to a server without an API key is refused (403), as (code, message), or None.

    A web page can make a browser send a "simple" POST (text/plain, no preflight) to any address, and DNS
    rebinding points a name the attacker owns at 127.0.0.1. Such a request carries the attacker's name in
    Host or a foreign Origin; a program (curl, the openai client) sends neither. Only the name is checked,
    not the port: an SSH tunnel (-L 9000:localhost:8000) changes the port, a rebinding attack the name."""
    name = host_name(host or "")
    if accepted is not None and name not in accepted:
        shown = ", ".join(sorted(accepted))
        return "forbidden_host", (f"Host {host!r} does not name this server: without an API key it answers only requests addressed to "
                f"{shown} (this stops web pages reaching it through DNS rebinding); add the name to allowed_hosts "
                "(--set allowed_hosts=[NAME]) or serve with an API key")
    if origin is not None and (origin == "null" or urlsplit(origin).netloc.lower() != (host or "").lower()):
        return "cross_origin", (f"cross-origin request from {origin!r} refused: without an API key this server accepts no requests "
                "from web pages of other origins (a page could send them on a visitor's behalf); call it from a "
                "program, which sends no Origin header, or serve with an API key")
    return None


def require_json(request: Request) -> None:
    """415 unless the body is declared JSON: browsers send text/plain and form bodies cross-origin without asking."""
    declared = request.headers.get("content-type", "")
    media_type = declared.split(";")[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(415, f"the request body must be JSON sent with 'Content-Type: application/json', not "
                            f"{declared or 'no Content-Type'!r}", "unsupported_media_type")


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    too_big = ApiError(413, f"the request body is larger than this server accepts ({limit} bytes)", "body_too_large")
    if declared.isdigit() and int(declared) > limit:
        raise too_big
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


class Service:
    """Request plumbing shared by the endpoints; `endpoints.py` holds what each one does."""

    def __init__(self, cfg: ServeConfig, backend: Any, log: RequestLog, metrics: Any, version: str):
        self.cfg, self.backend, self.log, self.metrics, self.version = cfg, backend, log, metrics, version
        self.name = cfg.served_name
        self.batcher = MicroBatcher(self._handlers(), max_batch_size=cfg.max_batch_size, batch_wait_ms=cfg.batch_wait_ms,
                                    max_queue=cfg.max_queue, on_batch=metrics.observe_batch)

    def _handlers(self) -> dict[str, Callable[[list[Job]], list[Any]]]:
        backend = self.backend
        if backend.kind == "classification":
            return {"classify": self._classify_batch}

        def generate(jobs: list[Job]) -> list[Any]:
            return backend.generate([j.payload for j in jobs], lambda: all(j.cancelled.is_set() for j in jobs))

        def stream(jobs: list[Job]) -> list[Any]:
            request, on_text = jobs[0].payload
            return [backend.stream(request, on_text, jobs[0].cancelled.is_set)]

        return {"generate": generate, "stream": stream}

    def _classify_batch(self, jobs: list[Job]) -> list[Any]:
        """One forward over every text of every request in the batch, split back per request."""
        predictions = self.backend.classify([ids for job in jobs for ids in job.payload])
        results, start = [], 0
        for job in jobs:
            results.append(predictions[start : start + len(job.payload)])
            start += len(job.payload)
        return results

    async def handle(self, request: Request, endpoint: str, action: Callable[[bytes, Call], Awaitable[Response]]) -> Response:
        call = Call(endpoint, time.monotonic() + self.cfg.request_timeout_s)
        try:
            self.check_access(request)
            require_json(request)
            raw = await read_body(request, self.cfg.max_body_bytes)
            call.request = raw.decode("utf-8", errors="replace")
            response = await action(raw, call)
        except ApiError as error:
            call.status, call.error, call.deferred = error.status, error.message, False
            response = error.response()
        except Exception as error:  # a bug of ours: still an answer and a log row, with the reason
            logger.exception("request to %s failed", endpoint)
            failure = ApiError(500, f"internal error: {type(error).__name__}: {error}", "internal_error")
            call.status, call.error, call.deferred = 500, failure.message, False
            response = failure.response()
        if not call.deferred:
            self.finish(call)
        return response

    def check_access(self, request: Request) -> None:
        """The API key when one is set; without one, the request's Host and Origin (see browser_problem)."""
        key = self.cfg.api_key
        if not key:
            problem = browser_problem(request.headers.get("host"), request.headers.get("origin"),
                                      self.cfg.accepted_host_names)
            if problem:
                raise ApiError(403, problem[1], problem[0])
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            raise ApiError(401, "missing API key: send the header 'Authorization: Bearer KEY'", "missing_api_key")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), key.encode()):
            raise ApiError(401, "invalid API key", "invalid_api_key")

    def check_model(self, requested: str | None) -> None:
        if requested not in (None, "", self.name):
            raise ApiError(404, f"model {requested!r} is not served here; this server serves {self.name!r} (see /v1/models)",
                           "model_not_found", "model")

    def require_kind(self, kind: str, endpoint: str) -> None:
        if self.backend.kind != kind:
            use = "/v1/classify" if self.backend.kind == "classification" else "/v1/chat/completions or /v1/completions"
            raise ApiError(404, f"{endpoint} needs a {kind} model; this server serves {self.name!r}, a "
                                f"{self.backend.kind} model: use {use}", "unsupported_endpoint")

    def submit(self, job: Job) -> Any:
        try:
            return self.batcher.submit(job)
        except QueueFull:
            raise ApiError(429, f"the server is busy ({self.cfg.max_queue} requests queued); retry shortly",
                           "queue_full", headers={"Retry-After": "1"}) from None
        except ShuttingDown:
            raise ApiError(503, "the server is shutting down", "shutting_down") from None

    async def run(self, jobs: list[Job], call: Call) -> list[Any]:
        """Queue the jobs, wait for all their results until the request's deadline (then 504)."""
        futures = []
        try:
            for job in jobs:
                futures.append(asyncio.wrap_future(self.submit(job)))
            return await asyncio.wait_for(asyncio.gather(*futures), max(call.deadline - time.monotonic(), 0.001))
        except asyncio.TimeoutError:
            raise self.timed_out(jobs) from None
        except ShuttingDown as exc:
            raise self.failure(exc) from None
        finally:
            for job in jobs:
                job.cancelled.set()  # no-op for finished jobs; stops a running generate when the caller gave up

    @staticmethod
    def failure(error: BaseException) -> BaseException:
        """What a job's exception becomes for the client: a 503 when shutting down, else it stays (a 500)."""
        return ApiError(503, "the server is shutting down", "shutting_down") if isinstance(error, ShuttingDown) else error

    def timed_out(self, jobs: list[Job]) -> ApiError:
        for job in jobs:
            job.cancelled.set()
            job.future.cancel()
        return ApiError(504, f"the request took longer than request_timeout_s ({self.cfg.request_timeout_s:g} s) "
                             "and was stopped; ask for fewer tokens or retry when the server is less busy", "timeout")

    def account(self, call: Call, results: list[Any]) -> None:
        call.outputs = [r.text for r in results]
        call.prompt_tokens = sum(r.prompt_tokens for r in results)
        call.completion_tokens = sum(r.completion_tokens for r in results)
        self.metrics.observe_tokens(call.prompt_tokens, call.completion_tokens)

    def finish(self, call: Call) -> None:
        seconds = time.perf_counter() - call.started
        self.metrics.observe_request(call.endpoint, call.status, seconds)
        try:
            self.log.record(endpoint=call.endpoint, model=self.name, model_version=self.version, status=call.status,
                            latency_ms=seconds * 1000, inputs=call.inputs, outputs=call.outputs,
                            prompt_tokens=call.prompt_tokens, completion_tokens=call.completion_tokens, error=call.error,
                            request=call.request, created_at=call.created_at)
        except sqlite3.Error as exc:  # the answer still goes out; the operator sees why the row is missing
            logger.error("could not write the request log %s: %s", self.log.path, exc)
