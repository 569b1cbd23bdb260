"""The defaults antrenor chooses when the config leaves method, lr, epochs and validation out."""

import json

import pytest

from antrenor.config import load_config
from antrenor.console import Reporter
from antrenor.training.config import TrainConfig
from antrenor.training.data import PreparedData
from antrenor.training.defaults import apply_defaults, carve_validation, choose_epochs, choose_lr, choose_method


class Recorder(Reporter):
    def __init__(self):
        super().__init__("quiet")
        self.lines: list[str] = []

    def info(self, message: str) -> None:
        self.lines.append(message)

    def warn(self, message: str) -> None:
        self.lines.append(message)


def records(count: int, labels=("a", "b", "c")) -> list[dict]:
    return [{"text": f"w{i}", "label": labels[i % len(labels)]} for i in range(count)]


def config(model: str, **keys) -> TrainConfig:
    return load_config(TrainConfig, flags={"data": "d", "model": model, "output": "o", "task": "classification", **keys})


def test_rules_by_size_task_and_data():
    assert choose_method("classification", 23, "encoder")[0] == "full"
    assert choose_method("classification", 560, "encoder")[0] == "lora"  # too big to update every weight cheaply
    assert choose_method("sft", 135, "causal-lm")[0] == "lora"
    assert [choose_lr("classification", "full", p)[0] for p in (23, 124, 560)] == [1e-4, 5e-5, 2e-5]
    assert [choose_lr("sft", "lora", p)[0] for p in (135, 8000, 70000)] == [3e-4, 2e-4, 1e-4]
    assert choose_lr("mlm", "full", 23)[0] == 2e-5 and choose_lr("sft", "lora", None)[0] == 1e-4
    assert [choose_epochs(n)[0] for n in (300, 5000, 50000)] == [5.0, 5.0, 3.0]


def test_unset_choices_are_filled_and_said(tiny_bert_dir):
    data = PreparedData(tiny_bert_dir, "classification", {}, records(300), [])
    reporter = Recorder()
    chosen = apply_defaults(config(str(tiny_bert_dir)), data, reporter)
    assert (chosen.method, chosen.lr, chosen.epochs, chosen.early_stopping_patience) == ("full", 1e-4, 5.0, 3)
    assert len(data.validation) == 30 and len(data.train) == 270  # 10 % held out, stratified
    assert {r["label"] for r in data.validation} == {"a", "b", "c"}
    steps_per_epoch = -(-270 // chosen.effective_batch_size)
    assert chosen.eval_steps == -(-steps_per_epoch // 2)  # two evaluations per epoch
    said = "\n".join(reporter.lines)
    assert "method full (default:" in said and "lr 0.0001 (default:" in said and "30 training records held out" in said
    assert "above the usual 1e-5..5e-5 for full fine-tuning, on purpose" in said  # a default outside the usual range


def test_a_chosen_rate_outside_the_usual_range_is_explained():
    from antrenor.training.defaults import outside_usual_range

    assert outside_usual_range("full", 2e-5) is None and outside_usual_range("lora", 1e-4) is None
    assert "on purpose" in outside_usual_range("full", 1e-4) and "on purpose" in outside_usual_range("lora", 3e-4)


def test_what_the_user_set_is_kept(tiny_bert_dir):
    data = PreparedData(tiny_bert_dir, "classification", {}, records(300), [])
    given = config(str(tiny_bert_dir), method="lora", lr=1e-3, epochs=2, validation=False)
    chosen = apply_defaults(given, data, Recorder())
    assert (chosen.method, chosen.lr, chosen.epochs) == ("lora", 1e-3, 2.0)
    assert data.validation == [] and len(data.train) == 300 and chosen.early_stopping_patience is None


def test_an_existing_validation_split_is_used_as_it_is(tiny_bert_dir):
    data = PreparedData(tiny_bert_dir, "classification", {}, records(100), records(7))
    chosen = apply_defaults(config(str(tiny_bert_dir)), data, Recorder())
    assert len(data.train) == 100 and len(data.validation) == 7 and chosen.early_stopping_patience == 3


@pytest.mark.parametrize("size, expected", [(20, 0), (40, 16), (1000, 100), (10000, 300)])
def test_carved_share_is_bounded(size, expected):
    data = PreparedData(None, "instruction", {}, [{"instruction": f"w{i}", "output": "w1"} for i in range(size)], [])
    assert carve_validation(data, seed=0) == expected == len(data.validation)
    assert len(data.train) == size - expected


def test_training_with_defaults_records_its_choices(classification_data, tiny_bert_dir, tmp_path):
    from antrenor import train

    result = train({"data": str(classification_data), "model": str(tiny_bert_dir), "task": "classification",
                    "output": str(tmp_path / "m"), "max_length": 16, "report_to": [], "max_steps": 6})
    saved = (tmp_path / "m" / "train_config.yaml").read_text()
    assert "method: full" in saved and "lr: 0.0001" in saved and "early_stopping_patience: 3" in saved
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert result.status == "completed" and manifest["metrics"]["steps_run"] <= 6
