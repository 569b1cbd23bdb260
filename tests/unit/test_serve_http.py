"""`antrenor serve` as a real process on loopback: the OpenAI API, limits, auth, logging, batching, kill -9."""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from antrenor import train
from tests.unit.serve_process import ServerProcess

KEY = "test-key-123"
AUTH = {"Authorization": f"Bearer {KEY}"}
CHAT = "/v1/chat/completions"


def _messages(text: str = "w1 w2 w3") -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


@pytest.fixture(scope="module")
def generator(tmp_path_factory, tiny_llama_dir):
    server = ServerProcess(tiny_llama_dir, tmp_path_factory.mktemp("serve-gen"), "--quiet", "--set", "max_tokens_cap=32",
                           "--set", "max_body_bytes=4096", "--set", "batch_wait_ms=20", api_key=KEY)
    try:
        yield server.wait_ready()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def classifier(tmp_path_factory, classification_data, tiny_bert_dir):
    folder = tmp_path_factory.mktemp("serve-cls")
    train({"data": str(classification_data), "model": str(tiny_bert_dir), "task": "classification", "method": "full",
           "output": str(folder / "model"), "max_steps": 8, "lr": 1e-2, "report_to": [], "effective_batch_size": 8,
           "batch_size": 8})
    server = ServerProcess(folder / "model", folder / "run", "--quiet")
    try:
        yield server.wait_ready()
    finally:
        server.stop()


def _rows(server: ServerProcess, after_id: int = 0) -> list[dict]:
    with sqlite3.connect(server.log_db) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM requests WHERE id > ? ORDER BY id", (after_id,))]


def _last_id(server: ServerProcess) -> int:
    with sqlite3.connect(server.log_db) as db:
        return db.execute("SELECT COALESCE(MAX(id), 0) FROM requests").fetchone()[0]


def test_api_key_is_required_and_rejections_are_logged(generator):
    before = _last_id(generator)
    body = {"messages": _messages(), "max_tokens": 2}
    missing = httpx.post(generator.url + CHAT, json=body)
    wrong = httpx.post(generator.url + CHAT, json=body, headers={"Authorization": "Bearer nope"})
    right = httpx.post(generator.url + CHAT, json=body, headers=AUTH)
    assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    for response in (missing, wrong):
        error = response.json()["error"]
        assert set(error) >= {"message", "type", "code"} and "API key" in error["message"]
    assert httpx.get(generator.url + "/v1/models").status_code == 401
    assert httpx.get(generator.url + "/health").status_code == 200  # liveness probes carry no key
    rows = _rows(generator, before)
    assert [r["status"] for r in rows] == [401, 401, 200]
    assert all(r["error"] for r in rows[:2]) and rows[2]["error"] is None
    assert len({r["model_version"] for r in rows}) == 1 and len(rows[0]["model_version"]) == 12


def test_bad_requests_get_4xx_naming_the_problem_and_are_logged(generator):
    before = _last_id(generator)
    cases = [  # (body bytes, expected status, text the message must contain)
        (b'{"messages": [', 400, "not valid JSON"),
        (json.dumps({"messages": _messages(), "max_tokens": "many"}).encode(), 400, "max_tokens"),
        (json.dumps({"messages": "hello"}).encode(), 400, "messages"),
        (json.dumps({"max_tokens": 3}).encode(), 400, "messages: Field required"),
        (json.dumps({"messages": [{"role": "user", "content": 7}]}).encode(), 400, "messages.0.content"),
        (json.dumps({"messages": _messages(), "max_tokens": 33}).encode(), 400, "above this server's limit of 32"),
        (json.dumps({"messages": _messages(), "n": 2}).encode(), 400, "n=1"),
        (json.dumps({"messages": _messages("w1 " * 300)}).encode(), 400, "context is 256 tokens"),
        (json.dumps({"messages": _messages(), "model": "other"}).encode(), 404, "not served here"),
        (json.dumps({"messages": _messages("w1 " * 2000)}).encode(), 413, "larger than this server accepts"),
    ]
    for body, status, text in cases:
        response = httpx.post(generator.url + CHAT, content=body, headers={**AUTH, "Content-Type": "application/json"})
        assert response.status_code == status, (body[:80], response.text)
        assert text in response.json()["error"]["message"], response.text
    wrong_task = httpx.post(generator.url + "/v1/classify", json={"input": "w1"}, headers=AUTH)
    assert wrong_task.status_code == 404 and "needs a classification model" in wrong_task.json()["error"]["message"]
    rows = _rows(generator, before)
    assert [r["status"] for r in rows] == [s for _, s, _ in cases] + [404]
    assert all(r["error"] for r in rows)


def _sse_events(response: httpx.Response) -> list[str]:
    return [line[len("data: "):] for line in response.iter_lines() if line.startswith("data: ")]


def test_streamed_deltas_add_up_to_the_greedy_answer(generator):
    body = {"messages": _messages("w7 w8"), "max_tokens": 12, "temperature": 0}
    whole = httpx.post(generator.url + CHAT, json=body, headers=AUTH).json()
    answer = whole["choices"][0]["message"]["content"]
    assert answer and whole["usage"]["completion_tokens"] <= 12
    with httpx.stream("POST", generator.url + CHAT, json={**body, "stream": True, "stream_options": {"include_usage": True}},
                      headers=AUTH) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        events = _sse_events(response)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    deltas = [c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]]
    assert sum(1 for d in deltas if d) > 1  # really streamed, not one chunk at the end
    assert "".join(deltas) == answer
    assert chunks[-1]["usage"] == whole["usage"]  # include_usage: a last chunk with the counts


def test_the_official_openai_client_works(generator):
    import openai

    client = openai.OpenAI(base_url=generator.url + "/v1", api_key=KEY, max_retries=0)
    name = client.models.list().data[0].id
    chat = client.chat.completions.create(model=name, messages=_messages("w4 w5"), max_tokens=6, temperature=0)
    text = chat.choices[0].message.content
    assert text and chat.choices[0].finish_reason in ("stop", "length") and 0 < chat.usage.completion_tokens <= 6
    assert chat.usage.prompt_tokens > 0
    stream = client.chat.completions.create(model=name, messages=_messages("w4 w5"), max_tokens=6, temperature=0, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == text
    completion = client.completions.create(model=name, prompt="w1 w2 w3", max_tokens=4, temperature=0)
    assert completion.choices[0].text and completion.usage.completion_tokens <= 4
    streamed = client.completions.create(model=name, prompt="w1 w2 w3", max_tokens=4, temperature=0, stream=True)
    assert "".join(c.choices[0].text for c in streamed) == completion.choices[0].text
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=generator.url + "/v1", api_key="wrong", max_retries=0).models.list()
    with pytest.raises(openai.BadRequestError, match="n=1"):
        client.chat.completions.create(model=name, messages=_messages(), n=2)


def _metric_samples(server: ServerProcess) -> dict[str, list]:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(server.url + "/metrics", headers=AUTH).text
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def _batch_stats(samples: dict[str, list], kind: str) -> tuple[float, float, float]:
    """(batches, requests in them, batches of exactly one request) for one kind of job."""
    values = {(s.name, s.labels.get("le")): s.value for s in samples.get("antrenor_batch_size", [])
              if s.labels.get("kind") == kind}
    return values.get(("antrenor_batch_size_count", None), 0), values.get(("antrenor_batch_size_sum", None), 0), \
        values.get(("antrenor_batch_size_bucket", "1.0"), 0)


def test_200_concurrent_requests_no_5xx_every_one_logged_and_batched(generator):
    before_id = _last_id(generator)
    before = _batch_stats(_metric_samples(generator), "generate")

    def one_client(client_index: int) -> list[int]:
        statuses = []
        with httpx.Client(base_url=generator.url, headers=AUTH, timeout=60) as client:
            for i in range(20):
                if i % 2:
                    r = client.post(CHAT, json={"messages": _messages(f"w{client_index} w{i}"), "max_tokens": 4, "temperature": 0})
                else:
                    r = client.post("/v1/completions", json={"prompt": f"w{i} w{client_index}", "max_tokens": 3, "temperature": 0})
                statuses.append(r.status_code)
        return statuses

    with ThreadPoolExecutor(10) as pool:
        statuses = [s for client in pool.map(one_client, range(10)) for s in client]
    assert len(statuses) == 200 and not [s for s in statuses if s >= 500]
    assert statuses.count(200) == 200
    rows = _rows(generator, before_id)
    assert len(rows) == 200 and {r["status"] for r in rows} == {200}
    assert all(r["completion_tokens"] and r["outputs"] and json.loads(r["inputs"]) for r in rows)
    batches, requests, singles = (a - b for a, b in zip(_batch_stats(_metric_samples(generator), "generate"), before))
    assert requests == 200
    assert batches < 200 and batches > singles  # fewer model calls than requests: some ran several requests at once
    samples = _metric_samples(generator)
    counted = {(s.labels["endpoint"], s.labels["status"]): s.value for s in samples["antrenor_requests"]
               if s.name == "antrenor_requests_total"}
    assert counted[(CHAT, "200")] >= 100 and counted[("/v1/completions", "200")] >= 100
    assert any(s.name == "antrenor_request_latency_seconds_count" for s in samples["antrenor_request_latency_seconds"])
    assert any(s.value > 0 for s in samples["antrenor_generated_tokens"])


def test_log_survives_kill_9_during_load(tmp_path, tiny_llama_dir):
    server = ServerProcess(tiny_llama_dir, tmp_path, "--quiet")
    ok, stop = [], threading.Event()

    def hammer(index: int) -> None:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            while not stop.is_set():
                try:
                    response = client.post(CHAT, json={"messages": _messages(f"w{index}"), "max_tokens": 3})
                except httpx.TransportError:
                    return  # the server is gone
                if response.status_code == 200:
                    ok.append(1)

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(6)]
    try:
        server.wait_ready()
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while len(ok) < 30 and time.monotonic() < deadline:
            time.sleep(0.05)
        server.process.send_signal(signal.SIGKILL)  # mid-load: requests are queued and running
        server.process.wait(10)
        answered = len(ok)  # every 200 counted was received before the kill (a dead server sends nothing)
    finally:
        stop.set()
        server.stop()
        for thread in threads:
            if thread.is_alive():
                thread.join(15)
    assert answered >= 30
    with sqlite3.connect(server.log_db) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = db.execute("SELECT inputs, outputs, request FROM requests").fetchall()
    for inputs, outputs, request in rows:
        json.loads(inputs), json.loads(outputs), json.loads(request)
    assert len(rows) >= answered


def test_classifier_labels_single_and_list_inputs(classifier):
    labels = httpx.get(classifier.url + "/v1/models").json()["data"][0]["labels"]
    assert labels == ["a", "b", "c"]  # the label names the classifier was trained with, in id order
    texts = ["w1 w2 w40 w41 w42", "w3 w4 w50 w51", "w5 w6 w60 w61 w62 w63"]
    singles = []
    for text in texts:
        response = httpx.post(classifier.url + "/v1/classify", json={"input": text})
        assert response.status_code == 200
        (entry,) = response.json()["data"]
        assert set(entry["scores"]) == set(labels) and abs(sum(entry["scores"].values()) - 1) < 1e-4
        assert entry["label"] == max(entry["scores"], key=entry["scores"].get) and entry["score"] == max(entry["scores"].values())
        singles.append(entry)
    many = httpx.post(classifier.url + "/v1/classify", json={"input": texts}).json()
    assert [e["index"] for e in many["data"]] == [0, 1, 2]
    for batched, single in zip(many["data"], singles):  # padding in a batch does not change an answer
        assert batched["label"] == single["label"]
        assert all(abs(batched["scores"][k] - single["scores"][k]) < 1e-4 for k in labels)
    bad = httpx.post(classifier.url + "/v1/classify", json={"input": 5})
    assert bad.status_code == 400 and "input" in bad.json()["error"]["message"]
    wrong_task = httpx.post(classifier.url + CHAT, json={"messages": _messages()})
    assert wrong_task.status_code == 404 and "/v1/classify" in wrong_task.json()["error"]["message"]
    rows = _rows(classifier)
    assert [r["status"] for r in rows] == [200, 200, 200, 200, 400, 404]
    assert json.loads(rows[0]["outputs"])[0]["label"] == singles[0]["label"] and rows[0]["prompt_tokens"] is None
    assert json.loads(rows[3]["inputs"]) == texts and len(json.loads(rows[3]["outputs"])) == 3


def test_classifier_input_is_normalized_and_cut_as_in_training(classifier):
    """The server normalizes text as prepare did (cedilla ş -> ș) and cuts long inputs as training did."""
    start = _last_id(classifier)
    words = [f"w{i % 60}" for i in range(400)]  # ~400 tokens: past the 128 the tiny BERT can read
    long = httpx.post(classifier.url + "/v1/classify", json={"input": [" ".join(words), "w1 w2"]})
    assert long.status_code == 200
    assert [e["truncated"] for e in long.json()["data"]] == [True, False]
    visible = httpx.post(classifier.url + "/v1/classify", json={"input": " ".join(words[:126])}).json()["data"][0]
    assert visible["truncated"] is False
    assert long.json()["data"][0]["scores"] == pytest.approx(visible["scores"], abs=1e-4)  # [CLS] + 126 words + [SEP]
    cedilla = httpx.post(classifier.url + "/v1/classify", json={"input": "w1 ş ţ"})
    assert cedilla.status_code == 200
    logged = [json.loads(r["inputs"]) for r in _rows(classifier, start)]
    assert logged[-1] == ["w1 ș ț"]  # what the model saw, which monitor compares with the (normalized) training data
