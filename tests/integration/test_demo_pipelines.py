"""`make demo`: both shipped pipelines end to end on the embedded models, and the tuned models beat their bases."""

import json

import pytest

from tests.conftest import read_jsonl

pytestmark = pytest.mark.integration
STAGES = ["prepare", "train", "eval", "export"]


def _metrics(folder, demo):
    return json.loads((folder / "runs" / "demo" / demo / "eval" / "metrics.json").read_text())


@pytest.mark.xdist_group("sft-demo")
def test_sft_demo_beats_its_base_on_held_out_codes_and_exports(sft_demo):
    folder, state, again = sft_demo
    assert {s: state["stages"][s]["status"] for s in STAGES} == dict.fromkeys(STAGES, "ran")
    assert [(o.name, o.status) for o in again.outcomes] == [(s, "cached") for s in STAGES]
    summary = _metrics(folder, "legal-sft")
    assert summary["models"]["base"]["source"] == "smollm2-135m-instruct"  # read from the manifest
    tuned = summary["models"]["model"]
    # measured on this machine: ROUGE-L 6.7 -> 11.1 (40 held-out titles: p ~ 0.24), answer perplexity 80 -> 11 (p < 0.01)
    assert tuned["vs_base"]["rougeL"]["improved"] and tuned["vs_base"]["rougeL"]["delta"] > 2, tuned["vs_base"]["rougeL"]
    assert tuned["vs_base"]["answer_perplexity"]["improved"] and tuned["vs_base"]["answer_perplexity"]["p_value"] < 0.05
    assert {"no_diacritics", "typos"} <= set(tuned["robustness"]["perturbations"])
    assert "perplexity_general_ro" in tuned["forgetting_vs_base"]
    assert "rougeL" in state["stages"]["eval"]["summary"] and "-> " in state["stages"]["eval"]["summary"]  # by how much
    export = json.loads((folder / "runs" / "demo" / "legal-sft" / "export" / "export.json").read_text())
    assert export["checks"]["onnx"]["same_greedy_tokens"] == export["checks"]["onnx"]["examples"] > 0
    report = (folder / "runs" / "demo" / "legal-sft" / "run_report.html").read_text()
    assert "eval_report.html" in report and "README.md" in report and "cached" in report


@pytest.mark.xdist_group("classification-demo")
def test_classification_demo_beats_a_linear_probe_on_its_base(classification_demo):
    folder, state, again = classification_demo
    assert {s: state["stages"][s]["status"] for s in STAGES} == dict.fromkeys(STAGES, "ran")
    assert [o.status for o in again.outcomes] == ["cached"] * 4
    data = folder / "runs" / "demo" / "legal-classification" / "data"
    assert len(read_jsonl(data / "test.jsonl")) == 100 and len(read_jsonl(data / "train.jsonl")) == 400
    tuned = _metrics(folder, "legal-classification")["models"]["model"]
    gain = tuned["vs_base"]["accuracy"]
    # measured on this machine (one thread): 60 % for a linear probe on the frozen base, 64 % tuned, p 0.49 on
    # 100 test articles: better, not significantly (docs/benchmarks.md); chance is 11 %
    assert gain["improved"] and gain["tuned"] > 50, gain
    assert tuned["robustness"]["attack"]["attempted"] > 0
    assert tuned["ood"]["examples"]["out_of_distribution"] == 150 and max(tuned["ood"]["auroc"].values()) > 0.5
    int8 = json.loads((folder / "runs" / "demo" / "legal-classification" / "export" / "export.json").read_text())["checks"]["int8"]
    assert int8["int8_minus_fp32_points"] >= -1.0, int8  # the bound: at most 1 point lost (100 articles)
    assert int8["accuracy"]["onnx_int8_agreement"] >= 95, int8  # measured: 97 % of predictions unchanged
    assert int8["int8_mb"] < int8["fp32_mb"] / 3
