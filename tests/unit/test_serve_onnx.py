"""The ONNX serving backends answer as the PyTorch ones do (same protocol, same greedy text, same scores)."""

from __future__ import annotations

import pytest

from antrenor import export, train
from antrenor.errors import ConfigError
from antrenor.serve.backends import GenerationRequest, load_backend


@pytest.fixture(scope="module")
def exported_pair(tmp_path_factory, sft_data, classification_data, tiny_llama_dir, tiny_bert_dir):
    root = tmp_path_factory.mktemp("serve-onnx")
    train({"data": str(sft_data), "model": str(tiny_llama_dir), "task": "sft", "method": "lora",
           "output": str(root / "sft"), "max_steps": 4, "lr": 5e-2, "report_to": []})
    train({"data": str(classification_data), "model": str(tiny_bert_dir), "task": "classification", "method": "full",
           "output": str(root / "cls"), "max_steps": 6, "lr": 1e-2, "report_to": [], "batch_size": 8,
           "effective_batch_size": 8})
    for name in ("sft", "cls"):
        export({"model": str(root / name), "output": str(root / f"{name}-export"), "format": "onnx", "quantize": "int8"})
    return root / "sft-export", root / "cls-export"


def test_onnx_generation_equals_torch_greedy(exported_pair):
    folder, _ = exported_pair
    onnx_backend = load_backend(folder, "onnx")
    torch_backend = load_backend(folder, "torch", bf16=False)
    prompts = [onnx_backend.encode_chat([{"role": "user", "content": text}]) for text in ("w1 w2 w3", "w4", "w5 w6")]
    assert prompts[0] == torch_backend.encode_chat([{"role": "user", "content": "w1 w2 w3"}])
    requests = [GenerationRequest(p, max_tokens=6) for p in prompts]
    got = onnx_backend.generate(requests, lambda: False)
    expected = torch_backend.generate(requests, lambda: False)
    assert [(r.text, r.completion_tokens, r.finish_reason) for r in got] == \
           [(r.text, r.completion_tokens, r.finish_reason) for r in expected]

    pieces: list[str] = []
    streamed = onnx_backend.stream(requests[0], pieces.append, lambda: False)
    assert "".join(pieces) == streamed.text == got[0].text


def test_onnx_sampling_is_reproducible_with_a_seed(exported_pair):
    folder, _ = exported_pair
    backend = load_backend(folder, "onnx")
    prompt = backend.encode_prompt("w1 w2")
    runs = [backend.generate([GenerationRequest(prompt, 8, temperature=1.5, seed=seed)], lambda: False)[0].text
            for seed in (7, 7, 8, 9, 10)]
    assert runs[0] == runs[1]
    assert len(set(runs[1:])) > 1  # other seeds draw other tokens from the flat tiny model


def test_onnx_classifier_scores_like_torch(exported_pair):
    _, folder = exported_pair
    onnx_backend = load_backend(folder, "onnx")
    torch_backend = load_backend(folder, "torch")
    inputs = [onnx_backend.encode(text) for text in ("w1 w2 w3", "w4 w5", "w9")]
    got, expected = onnx_backend.classify(inputs), torch_backend.classify(inputs)
    assert onnx_backend.labels == torch_backend.labels
    assert [p.label for p in got] == [p.label for p in expected]
    for a, b in zip(got, expected):
        assert a.scores == pytest.approx(b.scores, abs=1e-4)
    int8 = load_backend(folder / "model.int8.onnx", "onnx")
    assert len(int8.classify(inputs)) == 3


def test_missing_onnx_file_says_how_to_make_it(tmp_path):
    with pytest.raises(ConfigError, match="does not exist") as error:
        load_backend(tmp_path, "onnx")
    assert any("antrenor export" in p for p in error.value.problems)
