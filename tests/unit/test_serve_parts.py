"""The serve stage's parts: the batcher, streamed text, the torch backends, config, version, CLI wiring."""

from __future__ import annotations

import json
import shutil
import socket
import sys
import threading
import time

import pytest

from antrenor.config import as_config
from antrenor.errors import ConfigError
from antrenor.models.version import model_version
from antrenor.serve.backends import GenerationRequest, TorchGenerator, load_backend, serving_task
from antrenor.serve.batching import Job, MicroBatcher, ShuttingDown
from antrenor.serve.config import ServeConfig
from antrenor.serve.text_stream import TextStream, cut_at_stop


def test_batcher_groups_by_key_and_resolves_each_future_with_its_own_result():
    calls = []

    def handler(jobs):
        calls.append([(j.key, j.payload) for j in jobs])
        return [j.payload * 10 for j in jobs]

    release = threading.Event()
    batcher = MicroBatcher({"x": handler, "block": lambda jobs: [release.wait(5)]}, max_batch_size=3, batch_wait_ms=50)
    batcher.start()
    blocker = batcher.submit(Job("block", None))  # holds the worker while the others queue up
    futures = [batcher.submit(Job("x", i, key="a" if i % 2 else "b")) for i in range(6)]
    alone = batcher.submit(Job("x", 100, key="a", batchable=False))
    release.set()
    assert [f.result(5) for f in futures] == [0, 10, 20, 30, 40, 50] and alone.result(5) == 1000 and blocker.result(5)
    assert sorted(len(c) for c in calls) == [1, 3, 3]
    assert all(len({key for key, _ in call}) == 1 for call in calls)
    batcher.stop()


def test_batcher_failure_reaches_every_caller_and_stop_fails_waiting_jobs():
    def handler(jobs):
        if jobs[0].payload == "bad":
            raise ValueError("broken input")
        time.sleep(0.2)
        return ["ok"] * len(jobs)

    batcher = MicroBatcher({"x": handler}, max_batch_size=1, batch_wait_ms=0)
    batcher.start()
    with pytest.raises(ValueError, match="broken input"):
        batcher.submit(Job("x", "bad")).result(5)
    running = batcher.submit(Job("x", "slow"))
    waiting = batcher.submit(Job("x", "late"))
    time.sleep(0.05)
    batcher.stop()
    assert running.result(5) == "ok"
    with pytest.raises(ShuttingDown):
        waiting.result(5)


def _words(ids: list[int]) -> str:
    return " ".join(f"w{i}" for i in ids)


@pytest.mark.parametrize("stops", [(), ("w3",), ("w3 w4",), ("w9",), ("2 w",)])
def test_streamed_deltas_equal_the_whole_text_cut_at_the_first_stop(stops):
    ids = [1, 2, 3, 4, 5, 3]
    stream = TextStream(_words, stops)
    deltas = []
    for token in ids:
        deltas.append(stream.push([token]))
        if stream.stopped:
            break
    deltas.append(stream.finish())
    expected, hit = cut_at_stop(_words(ids), stops)
    assert "".join(deltas) == expected and stream.stopped == hit
    assert not any(stop and stop in "".join(deltas) for stop in stops)


def test_stream_holds_back_what_may_begin_a_stop_string():
    stream = TextStream(lambda ids: "".join(f"w{i} " for i in ids), ("w3 w4",))
    assert stream.push([1, 2]) == "w1 w2 "
    assert stream.push([3]) == ""  # 'w3 ' could begin the stop string: held back
    assert stream.push([5]) == "w3 w5 "  # it did not
    assert stream.push([3]) == "" and stream.push([4]) == "" and stream.stopped  # this time it did
    assert stream.sent == "w1 w2 w3 w5 "


@pytest.fixture(scope="module")
def tiny_generator(tiny_llama_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)  # fp32: batch and single give the same tokens
    return TorchGenerator(model, AutoTokenizer.from_pretrained(tiny_llama_dir))


def test_torch_generator_batched_greedy_equals_one_at_a_time(tiny_generator):
    prompts = [tiny_generator.encode_chat([{"role": "user", "content": text}]) for text in ("w1", "w2 w3 w4 w5 w6", "w7 w8")]
    requests = [GenerationRequest(p, max_tokens) for p, max_tokens in zip(prompts, (6, 3, 8))]
    batched = tiny_generator.generate(requests, lambda: False)
    single = [tiny_generator.generate([r], lambda: False)[0] for r in requests]
    assert [r.text for r in batched] == [r.text for r in single] and any(r.text for r in batched)
    for result, request in zip(batched, requests):
        assert result.prompt_tokens == len(request.prompt_ids) and 0 < result.completion_tokens <= request.max_tokens
        assert result.finish_reason == "length" or result.completion_tokens < request.max_tokens


def test_torch_generator_stream_equals_generate_with_a_stop_string(tiny_generator):
    prompt = tiny_generator.encode_chat([{"role": "user", "content": "w4 w5"}])
    whole = tiny_generator.generate([GenerationRequest(prompt, 10)], lambda: False)[0].text
    stop = whole.split()[2]  # a word the greedy answer contains
    expected = tiny_generator.generate([GenerationRequest(prompt, 10, stop=(stop,))], lambda: False)[0]
    deltas = []
    streamed = tiny_generator.stream(GenerationRequest(prompt, 10, stop=(stop,)), deltas.append, lambda: False)
    assert "".join(deltas) == streamed.text == expected.text == whole[: whole.index(stop)]
    assert streamed.finish_reason == expected.finish_reason == "stop"


def test_torch_generator_seeded_sampling_is_reproducible(tiny_generator):
    prompt = tiny_generator.encode_prompt("w1 w2")
    def sample(seed):
        return tiny_generator.generate([GenerationRequest(prompt, 12, temperature=1.0, seed=seed)], lambda: False)[0].text
    assert sample(1) == sample(1)
    assert len({sample(1), sample(2), sample(3)}) > 1


def test_serving_task_from_manifest_or_architecture(tmp_path, tiny_llama_dir, tiny_bert_dir):
    assert serving_task(tiny_llama_dir) == "sft"  # LlamaForCausalLM, no manifest
    (tmp_path / "manifest.json").write_text(json.dumps({"task": "classification"}))
    assert serving_task(tmp_path) == "classification"
    with pytest.raises(ConfigError, match="cannot serve a model of task"):
        serving_task(tiny_bert_dir)  # a masked LM
    assert serving_task(tiny_bert_dir, "classification") == "classification"


def test_onnx_backend_missing_is_a_config_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "antrenor.serve.onnx_backends", None)  # as if the module did not exist
    with pytest.raises(ConfigError, match="ONNX backend"):
        load_backend(tmp_path, "onnx")


def test_model_version_follows_the_weights(tmp_path, tiny_llama_dir):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_llama_dir, copy)
    version = model_version(tiny_llama_dir)
    assert len(version) == 12 and model_version(copy) == version
    (copy / "config.json").write_text("{}")  # not weights: same version
    assert model_version(copy) == version
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert model_version(copy) != version


def test_serve_config_limits_defaults_and_doubts(tmp_path):
    with pytest.raises(ConfigError, match="default_max_tokens"):
        as_config(ServeConfig, {"model": "m", "max_tokens_cap": 16, "default_max_tokens": 32})
    cfg = ServeConfig(model=str(tmp_path / "model"), max_tokens_cap=16)
    assert cfg.answer_tokens == 16 and cfg.log_path == tmp_path / "model.requests.db"
    assert cfg.served_name == "model" and cfg.host == "127.0.0.1" and not cfg.doubts()
    exposed = ServeConfig(model="m", host="0.0.0.0", allow_unauthenticated=True)  # without the flag: refused at start
    assert any("without an api_key" in doubt for doubt in exposed.doubts())
    assert not ServeConfig(model="m", host="0.0.0.0", api_key="k").doubts()


def test_serve_reports_every_problem_before_loading(tmp_path):
    from antrenor.serve.run import serve

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError) as error:
            serve({"model": str(tmp_path / "missing"), "port": port})
    problems = "\n".join(error.value.problems)
    assert "is not a folder" in problems and f"cannot listen on 127.0.0.1:{port}" in problems


def test_cli_has_a_serve_verb_documented_from_the_config(capsys):
    from antrenor.cli import main
    from antrenor.docs import config_reference_markdown

    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--help"])
    assert exit_.value.code == 0
    help_text = capsys.readouterr().out
    assert "--api-key" in help_text and "max_batch_size" in help_text and "request_timeout_s" in help_text
    assert "## `serve`" in config_reference_markdown()
    assert main(["serve", "--model", "/no/such/folder", "--port", "1"]) == 2
