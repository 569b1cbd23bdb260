"""Data no model can learn from is named before training: one label, empty splits, too few records to split,
and a saved classifier whose head does not fit the data's labels."""

from __future__ import annotations

import json

import pytest

from antrenor import evaluate, prepare, train
from antrenor.console import Reporter
from antrenor.errors import ConfigError, DataError
from tests.conftest import write_jsonl


class Recorder(Reporter):
    def __init__(self):
        super().__init__("quiet")
        self.warnings: list[str] = []

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def _prepare(tmp_path, rows, name="data", **keys):
    source = write_jsonl(tmp_path / f"{name}.jsonl", rows)
    reporter = Recorder()
    prepare({"input": [str(source)], "output": str(tmp_path / name), "dedup": {"near": False}, **keys}, reporter)
    return tmp_path / name, reporter.warnings


def test_three_records_split_3_0_0_are_said_at_prepare_and_eval_advises_no_empty_split(tmp_path, tiny_bert_dir):
    rows = [{"text": f"w{i} w{i + 1}", "label": "ab"[i % 2]} for i in range(3)]
    data, warnings = _prepare(tmp_path, rows)
    assert json.loads((data / "manifest.json").read_text())["splits"] == {"train": 3, "validation": 0, "test": 0}
    (said,) = [w for w in warnings if "split" in w]
    assert said.startswith("the validation and test splits are empty: 3 records are too few for validation=0.1, test=0.1")
    assert said in (data / "data_report.html").read_text()  # the report keeps it
    with pytest.raises(ConfigError) as error:
        evaluate({"models": [str(tiny_bert_dir)], "data": str(data), "output": str(tmp_path / "eval")})
    advice = "\n".join(error.value.problems)
    assert "test.jsonl is empty" in str(error.value) and "split=validation" not in advice  # it is empty too
    assert "no split but train holds records (3 in all)" in advice


def test_an_empty_split_is_advised_only_towards_splits_with_records():
    from antrenor.records.splits import empty_split_advice

    assert empty_split_advice("test", {"train": 80, "validation": 10, "test": 0}) == "--set split=validation (10 records)"
    assert empty_split_advice("validation", {"train": 80, "validation": 0, "test": 5}) == "--set split=test (5 records)"
    assert empty_split_advice("test", {"train": 3}).startswith("no split but train holds records (3 in all)")


def test_enough_records_split_without_a_warning(tmp_path):
    rows = [{"text": f"w{i} w{i + 1}", "label": "ab"[i % 2]} for i in range(20)]
    _, warnings = _prepare(tmp_path, rows)
    assert not [w for w in warnings if "split" in w or "label" in w]


def test_one_label_class_is_warned_at_prepare_and_refused_by_train(tmp_path, tiny_bert_dir):
    rows = [{"text": f"w{i} w{i + 1}", "label": "a"} for i in range(20)]
    data, warnings = _prepare(tmp_path, rows)
    assert any("every training record has the label 'a'" in w and "train refuses" in w for w in warnings)
    with pytest.raises(DataError) as error:
        train({"data": str(data), "model": str(tiny_bert_dir), "task": "classification", "output": str(tmp_path / "m"),
               "max_steps": 2, "report_to": []})
    assert "every training record has the label 'a': a classifier needs at least two labels" in str(error.value)
    assert "loss 0 and accuracy 1" in str(error.value) and "columns.label" in "\n".join(error.value.problems)


def test_no_validation_records_and_too_few_to_carve_is_a_warning(tiny_bert_dir):
    from antrenor.config import load_config
    from antrenor.training.config import TrainConfig
    from antrenor.training.data import PreparedData
    from antrenor.training.defaults import apply_defaults

    reporter = Recorder()
    data = PreparedData(tiny_bert_dir, "classification", {}, [{"text": "w1", "label": "ab"[i % 2]} for i in range(3)], [])
    cfg = load_config(TrainConfig, flags={"data": "d", "model": str(tiny_bert_dir), "output": "o", "task": "classification"})
    chosen = apply_defaults(cfg, data, reporter)
    assert any("no validation records in d, and 3 training records are too few" in w for w in reporter.warnings)
    assert chosen.early_stopping_patience is None


def _saved_classifier(folder, labels):
    from transformers import BertConfig, BertForSequenceClassification

    from tests.conftest import TINY_WORDS, tiny_word_tokenizer

    config = BertConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                        vocab_size=len(TINY_WORDS), max_position_embeddings=64, pad_token_id=1,
                        id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)})
    BertForSequenceClassification(config).save_pretrained(folder)
    tiny_word_tokenizer().save_pretrained(folder)
    (folder / "manifest.json").write_text(json.dumps({"stage": "train", "task": "classification", "base_model": "tiny-bert"}))
    return folder


def test_a_saved_classifier_with_another_label_count_is_named_with_both_counts(tmp_path):
    model = _saved_classifier(tmp_path / "classifier", ["civil", "penal", "fiscal"])
    rows = [{"text": f"w{i} w{i + 1}", "label": "ab"[i % 2]} for i in range(20)]
    data, _ = _prepare(tmp_path, rows)
    with pytest.raises(ConfigError) as error:
        train({"data": str(data), "model": str(model), "task": "classification", "output": str(tmp_path / "m"),
               "max_steps": 2, "report_to": []})
    message = str(error.value)
    assert "is a classifier with 3 labels (civil, penal, fiscal), but" in message and "has 2 (a, b)" in message
    assert "train from its base model (tiny-bert)" in message and "internal error" not in message
