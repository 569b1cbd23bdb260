"""The serve app in-process with a scripted backend: batching, timeouts, back-pressure, failures, logging."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from antrenor.records.request_log import RequestLog
from antrenor.serve.app import create_app
from antrenor.serve.backends import GenerationRequest, GenerationResult


class ScriptedGenerator:
    """Answers 'answer to [ids]' after `delay` seconds per call; remembers each call's batch size."""

    kind = "generation"
    context_length = 64

    def __init__(self, delay: float = 0.0):
        self.delay, self.calls, self.batches, self.stopped_early = delay, [], [], threading.Event()
        self.threads: set[str] = set()

    def encode_chat(self, messages):
        return [int(word) for word in messages[-1]["content"].split()]

    def encode_prompt(self, text):
        return [int(word) for word in text.split()]

    def generate(self, requests: list[GenerationRequest], should_stop):
        self.calls.append(len(requests))
        self.batches.append([(r.temperature, r.seed) for r in requests])
        self.threads.add(threading.current_thread().name)
        if any(r.prompt_ids == [666] for r in requests):
            raise RuntimeError("scripted failure")
        deadline = time.monotonic() + self.delay
        while time.monotonic() < deadline:
            if should_stop():
                self.stopped_early.set()
                break
            time.sleep(0.01)
        return [GenerationResult(f"answer to {r.prompt_ids}", len(r.prompt_ids), 3, "stop") for r in requests]

    def stream(self, request, on_text, should_stop):
        self.calls.append(1)
        for word in ("x ", "y ", "z"):
            on_text(word)
        return GenerationResult("x y z", len(request.prompt_ids), 3, "stop")


def _app(tmp_path, backend, **settings):
    config = {"model": str(tmp_path), "log_db": str(tmp_path / "log.db"), "batch_wait_ms": 30, **settings}
    return create_app(config, backend=backend, version="v1")


async def _concurrently(app, bodies: list[dict], path: str = "/v1/chat/completions") -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=30) as client:
        return await asyncio.gather(*(client.post(path, json=body) for body in bodies))


def _chat(number: int, **extra) -> dict:
    return {"messages": [{"role": "user", "content": str(number)}], "max_tokens": 3, **extra}


def test_concurrent_requests_share_model_calls_and_each_gets_its_own_answer(tmp_path):
    backend = ScriptedGenerator(delay=0.05)
    app = _app(tmp_path, backend, max_batch_size=8)
    with TestClient(app):  # runs the lifespan: starts the worker thread
        responses = asyncio.run(_concurrently(app, [_chat(i, temperature=0) for i in range(16)]))
    assert [r.status_code for r in responses] == [200] * 16
    assert [r.json()["choices"][0]["message"]["content"] for r in responses] == [f"answer to [{i}]" for i in range(16)]
    assert sum(backend.calls) == 16 and len(backend.calls) < 16 and max(backend.calls) > 1
    assert max(backend.calls) <= 8
    assert backend.threads == {"antrenor-model-worker"}  # one thread owns the model
    assert RequestLog(tmp_path / "log.db").count() == 16


def test_requests_that_decode_differently_are_not_batched_together(tmp_path):
    backend = ScriptedGenerator(delay=0.05)
    app = _app(tmp_path, backend)
    bodies = [_chat(i, temperature=0) for i in range(4)] + [_chat(10 + i, temperature=0.8, seed=i) for i in range(3)]
    with TestClient(app):
        responses = asyncio.run(_concurrently(app, bodies))
    assert all(r.status_code == 200 for r in responses)
    assert all(len(set(batch)) == 1 for batch in backend.batches)  # never greedy and sampled in one call
    seeded = [batch for batch in backend.batches if batch[0][1] is not None]
    assert len(seeded) == 3 and all(len(batch) == 1 for batch in seeded)  # a seeded request runs alone: reproducible
    assert max(len(batch) for batch in backend.batches if batch[0][0] == 0) > 1


def test_a_request_over_the_time_limit_gets_504_and_its_generation_stops(tmp_path):
    backend = ScriptedGenerator(delay=5.0)
    app = _app(tmp_path, backend, request_timeout_s=0.3)
    with TestClient(app) as client:
        started = time.monotonic()
        response = client.post("/v1/chat/completions", json=_chat(1))
        assert response.status_code == 504 and time.monotonic() - started < 3
        assert "request_timeout_s" in response.json()["error"]["message"]
        assert backend.stopped_early.wait(3)  # the worker is free again, not busy for 5 s
    (row,) = RequestLog(tmp_path / "log.db").rows()
    assert row["status"] == 504 and "request_timeout_s" in row["error"]


def test_a_full_queue_answers_429_with_retry_after(tmp_path):
    backend = ScriptedGenerator(delay=0.3)
    app = _app(tmp_path, backend, max_queue=1, max_batch_size=1)
    with TestClient(app):
        responses = asyncio.run(_concurrently(app, [_chat(i) for i in range(3)]))
    statuses = sorted(r.status_code for r in responses)
    assert statuses[0] == 200 and 429 in statuses
    busy = next(r for r in responses if r.status_code == 429)
    assert busy.headers["retry-after"] == "1" and busy.json()["error"]["type"] == "rate_limit_error"


def test_a_backend_failure_is_a_logged_500_and_the_worker_keeps_serving(tmp_path):
    backend = ScriptedGenerator()
    with TestClient(_app(tmp_path, backend)) as client:
        failed = client.post("/v1/chat/completions", json=_chat(666))
        after = client.post("/v1/chat/completions", json=_chat(7))
    assert failed.status_code == 500 and "scripted failure" in failed.json()["error"]["message"]
    assert after.status_code == 200
    rows = RequestLog(tmp_path / "log.db").rows()
    assert [r["status"] for r in rows] == [500, 200] and "scripted failure" in rows[0]["error"]


def test_streamed_request_is_logged_once_with_the_whole_answer(tmp_path):
    backend = ScriptedGenerator()
    with TestClient(_app(tmp_path, backend)) as client:
        with client.stream("POST", "/v1/completions", json={"prompt": "4 5", "stream": True}) as response:
            lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]" and len(lines) == 5  # three deltas, the finish chunk, [DONE]
    (row,) = RequestLog(tmp_path / "log.db").rows()
    assert row["outputs"] == ["x y z"] and row["inputs"] == ["4 5"] and row["completion_tokens"] == 3
    assert row["status"] == 200 and row["error"] is None


def test_default_and_capped_max_tokens(tmp_path):
    seen = []

    class Recording(ScriptedGenerator):
        def generate(self, requests, should_stop):
            seen.extend(r.max_tokens for r in requests)
            return super().generate(requests, should_stop)

    with TestClient(_app(tmp_path, Recording(), max_tokens_cap=20)) as client:
        assert client.post("/v1/completions", json={"prompt": "1 2"}).status_code == 200
        assert client.post("/v1/completions", json={"prompt": "1 2", "max_tokens": 20}).status_code == 200
        too_many = client.post("/v1/completions", json={"prompt": "1 2", "max_tokens": 21})
        long_prompt = client.post("/v1/completions", json={"prompt": " ".join(["1"] * 60), "max_tokens": 10})
    assert seen == [20, 20]  # no max_tokens: min(128, cap)
    assert too_many.status_code == 400 and too_many.json()["error"]["param"] == "max_tokens"
    assert long_prompt.status_code == 400 and "context is 64 tokens" in long_prompt.json()["error"]["message"]


def test_oversize_body_without_content_length_is_413(tmp_path):
    async def chunks():
        for _ in range(10):
            yield b"x" * 1024

    app = _app(tmp_path, ScriptedGenerator(), max_body_bytes=4096)

    async def send():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post("/v1/completions", content=chunks())  # chunked: no Content-Length

    with TestClient(app):
        response = asyncio.run(send())
    assert response.status_code == 413
    (row,) = RequestLog(tmp_path / "log.db").rows()
    assert row["status"] == 413 and row["request"] is None


@pytest.mark.parametrize("path", ["/v1/models", "/metrics"])
def test_listing_routes_need_the_key_when_one_is_set(tmp_path, path):
    with TestClient(_app(tmp_path, ScriptedGenerator(), api_key="k")) as client:
        assert client.get(path).status_code == 401
        assert client.get(path, headers={"Authorization": "Bearer k"}).status_code == 200
        assert client.get("/health").json()["status"] == "ok"
    assert RequestLog(tmp_path / "log.db").count() == 0  # listing and health checks are not inference: not logged


def test_a_stream_past_the_time_limit_ends_with_an_error_event_and_stops_generating(tmp_path):
    class SlowStream(ScriptedGenerator):
        def stream(self, request, on_text, should_stop):
            for word in ("x ", "y ", "z ", "w "):
                if should_stop():
                    self.stopped_early.set()
                    break
                on_text(word)
                time.sleep(0.25)
            return GenerationResult("x y", len(request.prompt_ids), 2, "stop")

    backend = SlowStream()
    with TestClient(_app(tmp_path, backend, request_timeout_s=0.4)) as client:
        with client.stream("POST", "/v1/chat/completions", json=_chat(3, stream=True)) as response:
            assert response.status_code == 200  # the first words came in time
            events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
        assert backend.stopped_early.wait(2)
    assert "[DONE]" not in events and "request_timeout_s" in json.loads(events[-1])["error"]["message"]
    (row,) = RequestLog(tmp_path / "log.db").rows()
    assert "request_timeout_s" in row["error"] and row["outputs"] and row["outputs"][0].startswith("x ")
