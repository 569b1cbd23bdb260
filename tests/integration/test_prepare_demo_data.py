"""prepare on the bundled Romanian demo data with the embedded models' own tokenizers."""

import json

import pytest

from antrenor import prepare
from tests.conftest import DEMO, RESOURCES, read_jsonl

pytestmark = pytest.mark.integration


def test_legal_classification_with_minilm(tmp_path):
    result = prepare({"input": [str(DEMO / "legal-classification")], "output": str(tmp_path), "model": "minilm-l6"})
    assert result.kind == "classification"
    train = read_jsonl(tmp_path / "train.jsonl")
    labels = {r["label"] for r in train}
    assert len(labels) == 9
    assert sum(result.splits.values()) + result.rejected == result.summary["counts"]["read"]
    text = "\n".join(r["text"] for r in train)
    assert "ş" not in text and "ţ" not in text and "ș" in text  # cedilla fixed, comma-below kept
    stats = result.summary["token_lengths"]
    assert stats["max_length"] == 512 and stats["train"]["max"] <= 512
    assert result.summary["counts"]["truncated"] > 0  # long articles were cut, and it says so


def test_legal_instructions_with_smollm2_chat_template(tmp_path):
    result = prepare({"input": [str(DEMO / "legal-instructions")], "output": str(tmp_path),
                      "model": "smollm2-135m-instruct", "filters": {"max_length": 512}})
    assert result.kind == "instruction"
    assert result.summary["split_origin"] == {"test": "from the input", "train": "from the input", "validation": "from the input"}
    test_codes = {r["code"] for r in read_jsonl(tmp_path / "test.jsonl")}
    train_codes = {r["code"] for r in read_jsonl(tmp_path / "train.jsonl")}
    assert test_codes.isdisjoint(train_codes)  # held-out codes stay held out
    rejects = read_jsonl(tmp_path / "rejects.jsonl")
    assert all(r["code"] in {"exact_duplicate", "near_duplicate", "contamination", "too_long"} for r in rejects)
    assert result.summary["token_lengths"]["train"]["max"] <= 512
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["kind"] == "instruction" and len(manifest["inputs"]) == 3


def test_language_check_drops_other_languages(tmp_path):
    pytest.importorskip("langdetect")
    lines = (RESOURCES / "general_ro.txt").read_text(encoding="utf-8").splitlines()[:40]
    english = (RESOURCES / "general_en.txt").read_text(encoding="utf-8").splitlines()[:10]
    source = tmp_path / "mixed.txt"
    source.write_text("\n".join(lines + english) + "\n", encoding="utf-8")
    result = prepare({"input": [str(source)], "output": str(tmp_path / "o"), "filters": {"language": "ro"}})
    wrong = [r for r in read_jsonl(tmp_path / "o" / "rejects.jsonl") if r["code"] == "wrong_language"]
    long_english = [e for e in english if len(e) >= 20]
    assert len(wrong) >= len(long_english) - 1  # langdetect may miss one very short sentence
    assert all(r["line"] > 40 for r in wrong)  # no Romanian sentence was dropped
    assert result.splits["train"] > 0
