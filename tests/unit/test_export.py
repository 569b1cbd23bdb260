"""The export stage on tiny random models: merge equivalence, ONNX parity, int8, model card, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from antrenor import export, train
from antrenor.errors import AntrenorError, ConfigError


@pytest.fixture(scope="module")
def sft_lora(tmp_path_factory, sft_data, tiny_llama_dir):
    output = tmp_path_factory.mktemp("export-sft") / "model"
    train({"data": str(sft_data), "model": str(tiny_llama_dir), "task": "sft", "method": "lora", "output": str(output),
           "max_steps": 4, "lr": 5e-2, "report_to": []})  # a high lr: the adapter must move the outputs
    return output


@pytest.fixture(scope="module")
def classifier_lora(tmp_path_factory, classification_data, tiny_bert_dir):
    output = tmp_path_factory.mktemp("export-cls") / "model"
    train({"data": str(classification_data), "model": str(tiny_bert_dir), "task": "classification", "method": "lora",
           "output": str(output), "epochs": 4, "lr": 1e-2, "report_to": [], "batch_size": 8, "effective_batch_size": 8})
    return output


def test_lora_sft_exports_merged_weights_and_faithful_onnx(tmp_path, sft_lora, tiny_llama_dir):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    result = export({"model": str(sft_lora), "output": str(tmp_path / "out"), "format": "onnx", "quantize": "int8"})
    out = result.output
    for name in ("model.safetensors", "config.json", "tokenizer.json", "model.onnx", "model.int8.onnx", "README.md",
                 "export.json"):
        assert (out / name).is_file(), name
    assert not (out / "adapter_config.json").exists()
    checks = result.checks
    assert checks["adapter"] == "LORA" and checks["merge"]["max_abs_logit_difference"] <= 1e-3
    assert checks["onnx"]["max_abs_logit_difference"] <= 1e-3
    assert checks["onnx"]["same_greedy_tokens"] == checks["onnx"]["examples"] > 0
    assert set(checks["int8"]["accuracy"]) >= {"pytorch", "onnx_fp32", "onnx_int8"}
    assert checks["int8"]["accuracy"]["pytorch"] == checks["int8"]["accuracy"]["onnx_fp32"]

    # the merged folder loads with plain transformers and equals adapter + base
    ids = torch.tensor([[2, 3, 4, 5, 8, 9]])
    merged = AutoModelForCausalLM.from_pretrained(out).eval()
    adapter = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_llama_dir), str(sft_lora)).eval()
    base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval()
    with torch.inference_mode():
        got, expected, untuned = (m(input_ids=ids).logits for m in (merged, adapter, base))
    assert torch.allclose(got, expected, atol=1e-4)
    assert not torch.allclose(got, untuned, atol=1e-3)  # the adapter really changed the model
    manifest = json.loads((out / "export.json").read_text())
    assert manifest["model_version"] == result.model_version and len(result.model_version) == 12
    from antrenor.models.version import model_version

    # what `antrenor serve` logs when it serves one of the .onnx files, and for the whole folder
    assert manifest["file_versions"] == {name: model_version(out / name) for name in ("model.int8.onnx", "model.onnx")}
    assert model_version(out) == result.model_version


def test_classifier_export_parity_and_int8_accuracy(tmp_path, classifier_lora, classification_data):
    result = export({"model": str(classifier_lora), "output": str(tmp_path / "out"), "format": "onnx", "quantize": "int8",
                     "data": str(classification_data)})
    checks = result.checks
    assert checks["onnx"]["max_abs_logit_difference"] <= 1e-3
    accuracy = checks["int8"]["accuracy"]
    assert accuracy["pytorch"] == accuracy["onnx_fp32"] and accuracy["onnx_fp32_agreement"] == 100
    assert 0 <= accuracy["onnx_int8"] <= 100 and 0 <= accuracy["onnx_int8_agreement"] <= 100
    labels = json.loads((result.output / "labels.json").read_text())
    config = json.loads((result.output / "config.json").read_text())
    assert config["id2label"] == {str(k): v for k, v in labels["id2label"].items()}

    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from antrenor.models.onnx_runtime import OnnxClassifier

    tokenizer = AutoTokenizer.from_pretrained(result.output)
    batch = tokenizer(["w1 w2 w3", "w4 w5"], padding=True, return_tensors="pt")
    model = AutoModelForSequenceClassification.from_pretrained(result.output).eval()
    onnx_logits = OnnxClassifier(result.output / "model.onnx").logits(batch)
    assert np.abs(onnx_logits - model(**batch).logits.detach().numpy()).max() < 1e-4


def test_model_card_cites_its_sources(tmp_path, sft_lora, tiny_llama_dir):
    result = export({"model": str(sft_lora), "output": str(tmp_path / "out")})
    card = (result.output / "README.md").read_text()
    assert card.startswith("---\n") and f"base_model: {tiny_llama_dir}" in card
    assert "pipeline_tag: text-generation" in card
    assert "## Training data" in card and "## Intended use" in card and "## Limitations" in card
    assert "lr: 0.05" in card  # the resolved training config
    assert "No `antrenor eval` results" in card
    assert "model.onnx" not in {p.name for p in result.output.iterdir()}


def test_model_card_includes_eval_results(tmp_path, sft_lora):
    eval_folder = tmp_path / "eval"
    eval_folder.mkdir()
    (eval_folder / "metrics.json").write_text(json.dumps({
        "split": "test", "examples": 40, "models": {
            "model": {"metrics": {"rougeL": {"value": 11.12, "ci95": [8.0, 14.5]}},
                      "vs_base": {"rougeL": {"delta": 4.4, "p_value": 0.03}},
                      "forgetting_vs_base": {"perplexity_general_ro": {"forgetting": True}}}}}))
    result = export({"model": str(sft_lora), "output": str(tmp_path / "out"), "eval": str(eval_folder)})
    card = (result.output / "README.md").read_text()
    assert "| model | rougeL | 11.12 | 8.00–14.50 | +4.40 | 0.030 |" in card
    assert "flagged on perplexity_general_ro" in card


def test_merge_check_can_fail(tmp_path, sft_lora):
    with pytest.raises(AntrenorError, match="merged model differs"):
        export({"model": str(sft_lora), "output": str(tmp_path / "out"), "merge_tolerance": 1e-30})
    assert not (tmp_path / "out").exists()  # nothing half-written where a server would look


def test_prompt_tuning_adapter_is_refused_with_the_reason(tmp_path, sft_data, tiny_llama_dir):
    model = tmp_path / "prompt"
    train({"data": str(sft_data), "model": str(tiny_llama_dir), "task": "sft", "method": "prompt", "output": str(model),
           "max_steps": 1, "report_to": []})
    with pytest.raises(AntrenorError, match="cannot be merged"):
        export({"model": str(model), "output": str(tmp_path / "out")})


def test_bad_input_is_reported_before_any_model_loads(tmp_path, sft_lora):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "precious.txt").write_text("keep me")
    with pytest.raises(ConfigError) as error:
        export({"model": str(tmp_path), "output": str(tmp_path / "taken"), "eval": str(tmp_path / "no-eval")})
    problems = "\n".join(error.value.problems)
    assert "not an `antrenor train` output" in problems
    assert "holds files antrenor did not write there (precious.txt)" in problems
    assert "lies inside the input" in problems  # the output is inside the (would-be) model folder
    assert "no metrics.json" in problems
    assert (tmp_path / "taken" / "precious.txt").read_text() == "keep me"
    with pytest.raises(ConfigError, match="set format onnx"):
        export({"model": str(sft_lora), "output": str(tmp_path / "o"), "quantize": "int8"})


def test_push_to_hub_offline_fails_clearly_after_a_complete_export(tmp_path, sft_lora, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(AntrenorError, match="offline") as error:
        export({"model": str(sft_lora), "output": str(tmp_path / "out"), "push_to_hub": "someone/legal-model"})
    assert any("export is complete" in p for p in error.value.problems)
    assert (tmp_path / "out" / "model.safetensors").is_file()


def test_cli_export(tmp_path, sft_lora, capsys):
    from antrenor.cli import main

    code = main(["export", "--model", str(sft_lora), "--output", str(tmp_path / "out"), "--format", "onnx", "--json"])
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["checks"]["onnx"]["max_abs_logit_difference"] <= 1e-3
    assert (tmp_path / "out" / "model.onnx").is_file()


def test_reward_adapter_exports_a_one_output_model_with_the_same_scores(tmp_path, tiny_llama_dir):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from antrenor.models.loading import load_judge
    from tests.conftest import write_jsonl

    rows = [{"prompt": f"w{20 + i} w{40 + i}", "chosen": f"w1 w2 w{60 + i}", "rejected": f"w7 w8 w{60 + i}"}
            for i in range(30)]
    from antrenor import prepare

    prepare({"input": [str(write_jsonl(tmp_path / "pairs.jsonl", rows))], "output": str(tmp_path / "data"),
             "dedup": {"near": False}})
    train({"data": str(tmp_path / "data"), "model": str(tiny_llama_dir), "task": "reward", "method": "lora",
           "output": str(tmp_path / "rm"), "max_steps": 3, "batch_size": 4, "effective_batch_size": 4, "lr": 1e-2,
           "report_to": [], "bf16": False})
    export({"model": str(tmp_path / "rm"), "output": str(tmp_path / "merged")})
    merged = AutoModelForSequenceClassification.from_pretrained(tmp_path / "merged").eval()
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "merged")
    assert merged.config.num_labels == 1
    adapter = load_judge(str(tmp_path / "rm"), trust_remote_code=False, allow_pickle=False).model
    ids = torch.tensor([tokenizer.apply_chat_template([{"role": "user", "content": "w30 w31"},
                                                       {"role": "assistant", "content": "w1 w2 w3"}], tokenize=True,
                                                      return_dict=False)])
    with torch.no_grad():
        torch.testing.assert_close(merged(input_ids=ids).logits, adapter(input_ids=ids).logits, atol=1e-5, rtol=1e-4)


def test_antrenor_export_stays_callable_after_its_modules_are_imported():
    """Importing antrenor.export.* binds the package over the stage function on `antrenor`; both stay callable."""
    import importlib

    import antrenor

    importlib.import_module("antrenor.export.modelfile")
    from antrenor import export as stage

    assert callable(antrenor.export) and callable(stage)
    with pytest.raises(AntrenorError, match="does-not-exist"):
        stage({"model": "/nonexistent/does-not-exist", "output": "/tmp/antrenor-never-written"})
