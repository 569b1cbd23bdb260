"""The eval stage end to end on tiny random models: every suite, the report, and bad input."""

from __future__ import annotations

import json
import math

import pytest

from antrenor import evaluate, train
from antrenor.errors import ConfigError
from tests.conftest import read_jsonl, write_jsonl


@pytest.fixture(scope="module")
def sft_model(tmp_path_factory, sft_data, tiny_llama_dir):
    output = tmp_path_factory.mktemp("eval-sft") / "model"
    train({"data": str(sft_data), "model": str(tiny_llama_dir), "task": "sft", "method": "lora", "output": str(output),
           "max_steps": 6, "lr": 5e-3, "report_to": []})
    return output


@pytest.fixture(scope="module")
def classifier(tmp_path_factory, classification_data, tiny_bert_dir):
    output = tmp_path_factory.mktemp("eval-cls") / "model"
    train({"data": str(classification_data), "model": str(tiny_bert_dir), "task": "classification", "method": "full",
           "output": str(output), "epochs": 10, "lr": 1e-2, "report_to": [], "effective_batch_size": 8, "batch_size": 8})
    return output


def _finite(value):
    return isinstance(value, (int, float)) and math.isfinite(value)


def test_batched_generation_equals_one_at_a_time(tiny_llama_dir, sft_data):
    """Left padding and the attention mask must not change what a prompt gets."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from antrenor.models.chat import prompt_ids
    from antrenor.models.generation import generate_answers
    from antrenor.records.splits import read_split

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_dir)
    records = read_split(sft_data, "train")[:12]
    records[0] = {**records[0], "instruction": records[0]["instruction"] + " w1 w2 w3 w4 w5"}  # lengths differ
    prompts = prompt_ids(records, "instruction", tokenizer)
    assert len({len(p) for p in prompts}) > 1
    batched = generate_answers(model, tokenizer, prompts, max_new_tokens=6, batch_size=5)
    single = generate_answers(model, tokenizer, prompts, max_new_tokens=6, batch_size=1)
    assert batched == single
    assert any(batched)


def test_sft_eval_compares_base_and_tuned_with_every_suite(tmp_path, sft_model, sft_data):
    ood = write_jsonl(tmp_path / "ood.jsonl", [{"instruction": f"w9{i} w8{i} w7{i}", "output": "w99 w98"} for i in range(8)])
    result = evaluate({"models": [str(sft_model)], "data": str(sft_data), "output": str(tmp_path / "eval"),
                       "ood": str(ood), "max_new_tokens": 6, "bootstrap_samples": 200,
                       "robustness": {"perturbations": ["no_diacritics", "typos", "casing"]}})
    summary = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert summary["base"] == "base" and summary["headline"] == "rougeL"
    # the base is also scored with solved training examples in each prompt: the honest baseline of an LM task
    (kshot,) = set(summary["models"]) - {"base", "model"}
    assert kshot.startswith("base ") and kshot.endswith("-shot") and summary["models"][kshot]["role"] == "baseline"
    assert set(summary["models"][kshot]["metrics"]) >= {"rougeL", "chrf"} and "robustness" not in summary["models"][kshot]
    assert "answer_perplexity" not in summary["models"][kshot]["metrics"]  # the zero-shot base's: not repeated
    tuned, base = summary["models"]["model"], summary["models"]["base"]
    verdict = tuned["vs_strongest_baseline"]
    assert verdict["metric"] == "rougeL" and verdict["baseline"] in ("base", kshot)
    assert verdict["baseline_value"] == max(verdict["baselines"].values()) and set(verdict["baselines"]) == {"base", kshot}
    assert verdict["gain_ci95"][0] <= verdict["gain"] <= verdict["gain_ci95"][1] and 0 < verdict["p_value"] <= 1
    assert verdict["significant"] == (verdict["gain"] > 0 and verdict["p_value"] < 0.05)
    assert "strongest baseline" in result.report_md.read_text()
    assert tuned["source"] == str(sft_model) and base["source"].endswith("tiny-llama0")
    for name in ("bleu", "chrf", "rouge1", "rouge2", "rougeL", "exact_match", "answer_perplexity"):
        figure = tuned["metrics"][name]
        assert _finite(figure["value"])
        assert figure["ci95"][0] <= figure["value"] <= figure["ci95"][1]
        gain = tuned["vs_base"][name]
        assert gain["delta"] == pytest.approx(figure["value"] - base["metrics"][name]["value"])
        assert 0 < gain["p_value"] <= 1
    # the tuned model learned the answers' shape: lower answer perplexity than its base
    assert tuned["metrics"]["answer_perplexity"]["value"] < base["metrics"]["answer_perplexity"]["value"]
    assert set(tuned["robustness"]["perturbations"]) == {"no_diacritics", "typos", "casing"}
    assert set(tuned["ood"]["auroc"]) == {"perplexity"} and 0 <= tuned["ood"]["auroc"]["perplexity"] <= 1
    assert {"perplexity_general_ro", "perplexity_general_en", "general_probes_accuracy"} <= set(tuned["forgetting_vs_base"])
    predictions = read_jsonl(tmp_path / "eval" / "predictions.jsonl")
    test_size = len(read_jsonl(sft_data / "test.jsonl"))
    assert len(predictions) == 3 * test_size and {p["model"] for p in predictions} == {"base", kshot, "model"}
    html = result.report_html.read_text()
    assert "data:image/png;base64," in html and "Forgetting" in html and "Out of distribution" in html
    assert "Training curves" in html  # read from the run's metrics.jsonl
    assert "Robustness" in result.report_md.read_text()


def test_classification_eval_probe_baseline_attack_and_ood(tmp_path, classifier, classification_data):
    ood = write_jsonl(tmp_path / "ood.jsonl", [{"text": f"w9{i % 10} w8{i % 10} w7{i % 10}", "label": "a"} for i in range(20)])
    evaluate({"models": [str(classifier)], "data": str(classification_data), "output": str(tmp_path / "eval"),
              "ood": str(ood), "bootstrap_samples": 200, "split": "validation"})
    summary = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    tuned, base = summary["models"]["model"], summary["models"]["base"]
    assert summary["headline"] == "accuracy"
    assert any("linear" in note or "probe" in note for note in summary["notes"])
    validation = read_jsonl(classification_data / "validation.jsonl")
    matrix = tuned["details"]["confusion_matrix"]
    assert sum(map(sum, matrix)) == len(validation)
    assert tuned["details"]["labels"] == ["a", "b", "c"]
    # the marker words make this learnable: the tuned classifier is far above chance
    assert tuned["metrics"]["accuracy"]["value"] > 60
    assert _finite(base["metrics"]["accuracy"]["value"])
    attack = tuned["robustness"]["attack"]
    assert attack["attempted"] + attack["skipped_misclassified"] > 0
    assert set(tuned["ood"]["auroc"]) == {"max_softmax", "energy"}
    assert "sts_spearman" in tuned["forgetting_vs_base"]


def test_classifier_ood_without_labels_is_detection_only(tmp_path, classifier, classification_data):
    """Inputs from no known class have no label to score: AUROC only, and no invented metrics."""
    ood = write_jsonl(tmp_path / "ood.jsonl", [{"text": f"w9{i % 10} w8{i % 10} w7{i % 10} z{i}"} for i in range(12)])
    evaluate({"models": [str(classifier)], "base": "none", "data": str(classification_data), "suite": ["metrics", "ood"],
              "output": str(tmp_path / "eval"), "ood": str(ood), "bootstrap_samples": 100, "split": "validation"})
    section = json.loads((tmp_path / "eval" / "metrics.json").read_text())["models"]["model"]["ood"]
    assert section["metrics"] == {}
    assert section["examples"]["out_of_distribution"] == 12
    assert set(section["auroc"]) == {"max_softmax", "energy"}
    assert all(0 <= value <= 1 for value in section["auroc"].values())


def test_ood_set_of_another_kind_is_refused_clearly(tmp_path, classifier, classification_data):
    ood = write_jsonl(tmp_path / "ood.jsonl", [{"instruction": f"q{i}", "output": f"a{i}"} for i in range(6)])
    with pytest.raises(ConfigError, match="holds instruction records.*classification records or plain text"):
        evaluate({"models": [str(classifier)], "base": "none", "data": str(classification_data), "suite": ["ood"],
                  "output": str(tmp_path / "eval"), "ood": str(ood), "split": "validation"})


def test_clm_eval_reports_perplexity(tmp_path, text_data, tiny_llama_dir):
    result = evaluate({"models": [str(tiny_llama_dir)], "base": "none", "data": str(text_data), "task": "clm",
                       "output": str(tmp_path / "eval"), "suite": ["metrics", "robustness"], "bootstrap_samples": 200,
                       "robustness": {"perturbations": ["typos"], "rate": 1.0}})
    entry = result.metrics["models"]["tiny-llama0"]
    assert result.metrics["base"] is None and "vs_base" not in entry
    assert entry["metrics"]["perplexity"]["value"] > 1
    assert "typos" in entry["robustness"]["perturbations"]


def test_cross_validation_trains_and_scores_each_fold(tmp_path, classification_data, tiny_bert_dir):
    train_config = tmp_path / "train.yaml"
    train_config.write_text(f"train:\n  model: {tiny_bert_dir}\n  method: full\n  max_steps: 3\n  batch_size: 8\n"
                            "  effective_batch_size: 8\n  lr: 1.0e-3\n  data: unused\n  output: unused\n")
    result = evaluate({"data": str(classification_data), "output": str(tmp_path / "cv"),
                       "cv": 2, "train_config": str(train_config), "bootstrap_samples": 100})
    accuracy = result.metrics["metrics"]["accuracy"]
    assert len(accuracy["folds"]) == 2 and accuracy["std"] >= 0
    assert accuracy["mean"] == pytest.approx(sum(accuracy["folds"]) / 2)
    for fold in (1, 2):
        assert (tmp_path / "cv" / f"fold-{fold}" / "model" / "config.json").is_file()
    assert "± " in result.report_md.read_text()


def test_bad_input_is_reported_before_any_model_loads(tmp_path, sft_data):
    with pytest.raises(ConfigError) as error:
        evaluate({"models": ["no/such-model-folder-xyz", str(tmp_path / "missing")], "data": str(tmp_path),
                  "output": str(tmp_path / "out"), "ood": str(tmp_path / "none.jsonl")})
    problems = "\n".join(error.value.problems)
    assert "not an `antrenor prepare` output" in problems
    assert "does not exist" in problems
    with pytest.raises(ConfigError, match="train_config"):
        evaluate({"models": ["x"], "data": str(sft_data), "output": str(tmp_path / "o"), "cv": 3})


def test_cli_eval_json(tmp_path, sft_model, sft_data, capsys):
    from antrenor.cli import main

    code = main(["eval", "--json", "--model", str(sft_model), "--data", str(sft_data), "--output", str(tmp_path / "e"),
                 "--suite", "metrics", "--set", "max_new_tokens=4", "--set", "bootstrap_samples=100", "--set", "kshot=0"])
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["headline"] == "rougeL" and set(payload["models"]) == {"base", "model"}  # kshot 0: zero-shot only


def test_a_checkpoint_is_compared_beside_the_final_model(tmp_path, sft_model, sft_data):
    checkpoint = sorted((sft_model / "checkpoints").glob("checkpoint-*"))[0]
    result = evaluate({"models": [str(sft_model), str(checkpoint)], "data": str(sft_data), "suite": ["metrics"],
                       "output": str(tmp_path / "eval"), "max_new_tokens": 4, "bootstrap_samples": 100, "kshot": 2})
    models = result.metrics["models"]
    assert list(models) == ["base", "base 2-shot", "model", checkpoint.name]  # the base found through the run's manifest
    assert "vs_base" in models[checkpoint.name]


def test_label_answers_are_judged_by_exact_match(tmp_path_factory, tmp_path, sft_model):
    """`pozitiv`/`negativ`-like answers: right or wrong, so exact match decides, unless the config names a metric."""
    from antrenor.evaluation.compare import answers_are_labels, headline_metric
    from tests.conftest import prepared

    assert answers_are_labels(["pozitiv", "negativ", "Pozitiv", "negativ"])
    assert not answers_are_labels(["Drepturi și obligații ale terțului", "Incompatibilități"])  # titles: each its own
    assert not answers_are_labels(["a", "b", "c", "d"])  # no answer repeats
    assert headline_metric("sft", ["rougeL", "chrf"], "chrf", ["a", "a"]) == "chrf"
    data = prepared(tmp_path_factory, "labels", [{"instruction": f"w{10 + i} w{20 + i % 30}", "output": ["w1", "w2"][i % 2]}
                                                 for i in range(40)])
    evaluate({"models": [str(sft_model)], "data": str(data), "output": str(tmp_path / "eval"), "suite": ["metrics"],
              "max_new_tokens": 3, "bootstrap_samples": 100, "kshot": 0})
    summary = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert summary["headline"] == "exact_match" and summary["models"]["model"]["vs_strongest_baseline"]["metric"] == "exact_match"
    with pytest.raises(ConfigError, match="headline 'accuracy' is not a metric"):
        evaluate({"models": [str(sft_model)], "data": str(data), "output": str(tmp_path / "eval2"), "suite": ["metrics"],
                  "max_new_tokens": 3, "bootstrap_samples": 100, "kshot": 0, "headline": "accuracy"})
