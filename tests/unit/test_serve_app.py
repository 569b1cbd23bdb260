"""The serve app in-process with a scripted backend: batching, timeouts, back-pressure, failures, logging."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from antrenor.config import load_config
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
    # the test clients address the app as "testserver" (TestClient) and "test" (httpx below)
    config = {"model": str(tmp_path), "log_db": str(tmp_path / "log.db"), "batch_wait_ms": 30,
              "allowed_hosts": ["testserver", "test"], **settings}
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
            return await client.post("/v1/completions", content=chunks(),  # chunked: no Content-Length
                                     headers={"Content-Type": "application/json"})

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


class ScriptedClassifier:
    """Labels every text 'a'."""

    kind = "classification"
    context_length = 64
    labels = ("a", "b")

    def encode(self, text):
        return [1] * len(text.split())

    def classify(self, inputs):
        from antrenor.serve.backend_api import Prediction

        return [Prediction("a", 0.9, {"a": 0.9, "b": 0.1}) for _ in inputs]


JSON = {"Content-Type": "application/json"}


def _keyless(tmp_path, **settings):
    """A classifier server as `antrenor serve` starts it by default: no API key, on 127.0.0.1:8000."""
    config = {"model": str(tmp_path), "log_db": str(tmp_path / "log.db"), "port": 8000, **settings}
    return TestClient(create_app(config, backend=ScriptedClassifier(), version="v1"), base_url="http://127.0.0.1:8000")


@pytest.mark.parametrize("headers, status, code", [
    ({"Host": "rebind.evil.example:8000", "Origin": "http://evil.example", "Content-Type": "text/plain"}, 403,
     "forbidden_host"),  # the request: DNS rebinding, as a browser sends it without a preflight
    ({"Host": "rebind.evil.example:8000", **JSON}, 403, "forbidden_host"),
    ({"Host": "127.0.0.1.evil.example", **JSON}, 403, "forbidden_host"),
    ({"Origin": "http://evil.example", **JSON}, 403, "cross_origin"),
    ({"Origin": "http://127.0.0.1:9999", **JSON}, 403, "cross_origin"),  # another local web app's page
    ({"Origin": "null", **JSON}, 403, "cross_origin"),  # sandboxed frames, file:// pages
    ({"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
    ({"Content-Type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"),
    ({"Content-Type": "multipart/form-data; boundary=x"}, 415, "unsupported_media_type"),
])
def test_keyless_server_refuses_browser_writes_and_logs_no_text(tmp_path, headers, status, code):
    with _keyless(tmp_path) as client:
        response = client.post("/v1/classify", content=b'{"input": "INJECTED"}', headers=headers)
    assert response.status_code == status and response.json()["error"]["code"] == code
    assert "API key" in response.json()["error"]["message"] or status == 415
    (row,) = RequestLog(tmp_path / "log.db").rows()
    assert row["status"] == status and row["inputs"] == [] and row["request"] is None  # the text never entered the log


@pytest.mark.parametrize("headers", [
    JSON,
    {"Host": "localhost:8000", **JSON},
    {"Host": "[::1]:8000", **JSON},
    {"Host": "localhost:9000", **JSON},  # an SSH tunnel (-L 9000:localhost:8000) changes the port, not the name
    {"Origin": "http://127.0.0.1:8000", "Content-Type": "application/json; charset=utf-8"},  # the same origin
])
def test_keyless_server_answers_programs_and_its_own_origin(tmp_path, headers):
    with _keyless(tmp_path) as client:
        response = client.post("/v1/classify", content=b'{"input": "w1"}', headers=headers)
    assert response.status_code == 200, response.text
    assert RequestLog(tmp_path / "log.db").rows()[0]["inputs"] == ["w1"]


def test_allowed_hosts_and_the_api_key_open_other_names(tmp_path):
    evil = {"Host": "rebind.evil.example:8000", **JSON}
    with _keyless(tmp_path, host="192.168.1.5", allowed_hosts=["Gpu-Box.lan."]) as client:
        assert client.post("/v1/classify", json={"input": "w1"}, headers={"Host": "gpu-box.lan:8000"}).status_code == 200
        assert client.post("/v1/classify", json={"input": "w1"}, headers={"Host": "192.168.1.5:8000"}).status_code == 200
        assert client.post("/v1/classify", json={"input": "w1"}, headers=evil).status_code == 403
    with _keyless(tmp_path, allowed_hosts=["*"]) as client:
        assert client.post("/v1/classify", json={"input": "w1"}, headers=evil).status_code == 200
    with _keyless(tmp_path, api_key="k") as client:  # a web page cannot send the key: names are not checked
        assert client.post("/v1/classify", json={"input": "w1"}, headers={**evil, "Authorization": "Bearer k"}).status_code == 200
        assert client.post("/v1/classify", content=b'{"input": "w1"}', headers={"Authorization": "Bearer k"}).status_code == 415


def test_keyless_listing_routes_check_the_host_but_health_stays_open(tmp_path):
    evil = {"Host": "rebind.evil.example"}
    with _keyless(tmp_path) as client:
        assert client.get("/v1/models", headers=evil).status_code == 403
        assert client.get("/metrics", headers=evil).status_code == 403
        assert client.get("/v1/models").status_code == 200
        assert client.get("/health", headers=evil).status_code == 200  # liveness probes
    assert RequestLog(tmp_path / "log.db").rows() == []


def test_allowed_hosts_takes_names_only():
    from antrenor.errors import ConfigError
    from antrenor.serve.config import ServeConfig

    with pytest.raises(ConfigError) as error:
        load_config(ServeConfig, flags={"model": "m", "allowed_hosts": ["http://gpu-box.lan/", "gpu-box.lan:8000"]})
    assert "without scheme, port or path" in str(error.value)


@pytest.mark.parametrize("host, api_key, allow, refused", [
    ("0.0.0.0", None, None, True),
    ("192.168.1.5", None, None, True),
    ("0.0.0.0", None, True, False),
    ("0.0.0.0", "k", None, False),
    ("127.0.0.2", None, None, False),
    ("localhost", None, None, False),
])
def test_a_network_bind_without_a_key_needs_an_explicit_flag(tmp_path, host, api_key, allow, refused):
    from antrenor.serve.config import ServeConfig
    from antrenor.serve.run import check_serve_config

    cfg = load_config(ServeConfig, flags={"model": str(tmp_path), "host": host, "port": 1, "api_key": api_key,
                                          "allow_unauthenticated": allow})
    problems = [p for p in check_serve_config(cfg) if p.startswith("host:")]
    assert bool(problems) == refused
    if refused:
        assert "--allow-unauthenticated" in problems[0] and "--api-key" in problems[0] and "request log" in problems[0]
    if allow:
        assert any("allowed_hosts is empty" in doubt for doubt in cfg.doubts())


def test_cli_refuses_a_keyless_network_bind(tmp_path, capsys, monkeypatch):
    from antrenor.cli import main

    monkeypatch.delenv("ANTRENOR_API_KEY", raising=False)
    (tmp_path / "config.json").write_text("{}")
    assert main(["serve", "--model", str(tmp_path), "--host", "0.0.0.0", "--port", "1"]) == 2
    assert "reachable from other machines, and no API key is set" in capsys.readouterr().err
