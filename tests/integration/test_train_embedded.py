"""Both embedded models on a few dozen demo examples for a few steps: loss goes down, output reloads."""

import json

import pytest
import torch

from antrenor import prepare, train
from tests.conftest import DEMO, read_jsonl, write_jsonl

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def legal_sft_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("legal-sft")
    rows = read_jsonl(DEMO / "legal-instructions" / "train.jsonl")
    titles = [r for r in rows if r["instruction"].startswith("Propune") and len(r["input"]) < 400][:32]
    source = write_jsonl(folder / "train.jsonl", titles)
    prepare({"input": [str(source)], "output": str(folder / "data"), "model": "smollm2-135m-instruct",
             "filters": {"max_length": 384}, "split": {"validation": 0.15, "test": 0.0}})
    return folder / "data"


def test_lora_sft_on_smollm2_lowers_the_loss_and_reloads(legal_sft_data, tmp_path):
    result = train({"data": str(legal_sft_data), "model": "smollm2-135m-instruct", "task": "sft", "method": "lora",
                    "output": str(tmp_path / "out"), "max_steps": 6, "batch_size": 4, "effective_batch_size": 4,
                    "lr": 1e-3, "max_length": 384, "eval_steps": 6, "report_to": ["tensorboard"]})
    history = [json.loads(line) for line in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    losses = [h["loss"] for h in history if "loss" in h]
    assert sum(losses[-2:]) / 2 < losses[0]  # single steps are noisy: compare the last two with the first
    assert 0.1 < 100 * result.trainable_parameters / result.total_parameters < 5
    assert (tmp_path / "out" / "training_curves.png").exists()
    assert any((tmp_path / "out" / "tensorboard").iterdir())
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoTokenizer

    model = AutoPeftModelForCausalLM.from_pretrained(tmp_path / "out")
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "out")
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Propune un titlu: Legea penală."}],
                                           add_generation_prompt=True, return_tensors="pt", return_dict=True)
    generated = model.generate(**prompt, max_new_tokens=5, do_sample=False)
    assert generated.shape[1] > prompt["input_ids"].shape[1]


@pytest.mark.parametrize("method", ["full", "lora"])
def test_minilm_classification_learns_the_legal_codes(tmp_path_factory, tmp_path, method):
    folder = tmp_path_factory.mktemp(f"cls-{method}")
    rows = read_jsonl(DEMO / "legal-classification" / "articles.jsonl")
    wanted = [r for r in rows if r["label"] in ("constitution", "fiscal_code")][:120]
    source = write_jsonl(folder / "articles.jsonl", wanted)
    prepare({"input": [str(source)], "output": str(folder / "data"), "model": "minilm-l6",
             "split": {"validation": 0.25, "test": 0.0}})
    result = train({"data": str(folder / "data"), "model": "minilm-l6", "task": "classification", "method": method,
                    "output": str(tmp_path / "out"), "max_steps": 16, "batch_size": 8, "effective_batch_size": 8,
                    "lr": 1e-4 if method == "full" else 1e-3, "max_length": 256, "eval_steps": 8})
    history = [json.loads(line) for line in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    losses = [h["loss"] for h in history if "loss" in h]
    assert sum(losses[-2:]) / 2 < losses[0]
    assert result.metrics["eval_accuracy"] > 0.55  # 30 validation articles, chance 0.5; 16 steps only
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if method == "full":
        model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "out")
    else:
        from peft import AutoPeftModelForSequenceClassification

        labels = json.loads((tmp_path / "out" / "labels.json").read_text())  # the head's config keywords
        model = AutoPeftModelForSequenceClassification.from_pretrained(tmp_path / "out", **labels)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "out")
    with torch.no_grad():
        logits = model(**tokenizer(["Impozitul pe profit se datorează bugetului de stat."], return_tensors="pt")).logits
    assert logits.shape == (1, 2)
    assert set(model.config.id2label.values()) == {"constitution", "fiscal_code"}
