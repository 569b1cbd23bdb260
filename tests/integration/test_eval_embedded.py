"""The eval stage on the embedded models and the demo data: the tuned model beats its base."""

import json

import pytest

from antrenor import evaluate, prepare, train
from tests.conftest import DEMO, read_jsonl, write_jsonl

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def title_data(tmp_path_factory):
    """Article-title generation: train on six codes, test on codes never seen in training."""
    folder = tmp_path_factory.mktemp("titles")
    def titles(split, count):
        rows = read_jsonl(DEMO / "legal-instructions" / f"{split}.jsonl")
        return [r for r in rows if r["instruction"].startswith("Propune") and len(r["input"]) < 500][:count]
    write_jsonl(folder / "train.jsonl", titles("train", 320))
    write_jsonl(folder / "test.jsonl", titles("test", 40))
    prepare({"input": [str(folder / "train.jsonl"), str(folder / "test.jsonl")], "output": str(folder / "data"),
             "model": "smollm2-135m-instruct", "lang": "ro", "filters": {"max_length": 384}, "split": {"validation": 0.0}})
    return folder / "data"


def test_tuned_smollm2_beats_its_base_on_held_out_title_generation(title_data, tmp_path):
    train({"data": str(title_data), "model": "smollm2-135m-instruct", "task": "sft", "method": "lora",
           "output": str(tmp_path / "model"), "epochs": 1, "effective_batch_size": 8, "lr": 3e-4, "max_length": 384,
           "report_to": []})
    result = evaluate({"models": [str(tmp_path / "model")], "data": str(title_data), "output": str(tmp_path / "eval"),
                       "max_new_tokens": 24, "suite": ["metrics", "robustness", "forgetting"],
                       "robustness": {"perturbations": ["no_diacritics"], "max_examples": 16},
                       "forgetting": {"max_lines": 40}})
    summary = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert summary["models"]["base"]["source"] == "smollm2-135m-instruct"  # read from the manifest
    gains = summary["models"]["model"]["vs_base"]
    # measured on this machine: ROUGE-L 6.7 -> 11.1 (40 held-out titles: p ~ 0.24), answer perplexity 80 -> 11 (p < 0.01)
    assert gains["rougeL"]["improved"] and gains["rougeL"]["delta"] > 2, gains["rougeL"]
    assert gains["answer_perplexity"]["improved"] and gains["answer_perplexity"]["p_value"] < 0.05
    assert "no_diacritics" in summary["models"]["model"]["robustness"]["perturbations"]
    assert "perplexity_general_ro" in summary["models"]["model"]["forgetting_vs_base"]
    assert "beats the base on rougeL" in result.report_md.read_text()


@pytest.mark.xdist_group("minilm")
def test_tuned_minilm_beats_a_linear_probe_on_its_base(tuned_minilm, tmp_path):
    data, model = tuned_minilm
    evaluate({"models": [str(model)], "data": str(data), "output": str(tmp_path / "eval"),
              "suite": ["metrics", "robustness"], "robustness": {"perturbations": ["no_diacritics"], "attack_examples": 10}})
    summary = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    gain = summary["models"]["model"]["vs_base"]["accuracy"]
    # measured on this machine: 57 % for the probe on the frozen base, 73 % tuned (p ~ 0.006, 100 test articles);
    # 2 epochs at lr 1e-4 stayed below the probe
    assert gain["improved"] and gain["p_value"] < 0.05, gain
    assert summary["models"]["model"]["robustness"]["attack"]["attempted"] > 0
