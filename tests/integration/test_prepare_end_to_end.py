"""`antrenor prepare` from the command line, on files mixing good records with every kind of broken one."""

import hashlib
import json
from pathlib import Path

import pytest

from antrenor.cli import main
from tests.conftest import read_jsonl, write_jsonl

pytestmark = pytest.mark.integration

LONG_OUTPUT = ("Dispozițiile prezentului cod reglementează raporturile patrimoniale și pe cele nepatrimoniale "
               "dintre persoane, ca subiecte de drept civil, precum și regulile de competență ale instanțelor")


def good(i: int, output: str) -> dict:
    return {"instruction": f"Întrebarea {i}", "input": "", "output": output}


def write_messy_instructions(path: Path) -> dict:
    """Lines and what must happen to each: kept (value = expected output) or rejected (value = code)."""
    lines = [
        (b"\xef\xbb\xbf" + json.dumps(good(1, "Legea se aplică şi în ţară"), ensure_ascii=False).encode() + b"\r\n", "Legea se aplică și în țară"),
        (json.dumps(good(2, LONG_OUTPUT), ensure_ascii=False).encode() + b"\r\n", LONG_OUTPUT),
        (b"\n", None),
        (b'{"instruction": "Intrebarea 3", "output": "x"\n', "invalid_json"),
        (b'{"instruction": "Intrebarea 4", "input": ""}\n', "missing_field"),
        (b'{"instruction": "Intrebarea 5", "output": ["o"]}\n', "wrong_type"),
        (b'{"instruction": "Intrebarea 6", "output": "r\xe2u"}\n', "invalid_utf8"),
        (b'{"instruction": "Intrebarea 7", "output": "' + b"x" * 10_000_000 + b'"}\n', "too_large"),
        (json.dumps(good(2, LONG_OUTPUT), ensure_ascii=False).encode() + b"\n", "exact_duplicate"),
        (json.dumps(good(2, LONG_OUTPUT[:-len("instanțelor")] + "tribunalelor"), ensure_ascii=False).encode() + b"\n", "near_duplicate"),
        (b'{"instruction": "   ", "output": "gol"}\n', "too_short"),
        (b'"just a string"\n', "not_an_object"),
        (json.dumps(good(13, "Al treilea răspuns, distinct."), ensure_ascii=False).encode() + b"\n", "Al treilea răspuns, distinct."),
    ]
    path.write_bytes(b"".join(raw for raw, _ in lines))
    return {number: outcome for number, (_, outcome) in enumerate(lines, start=1) if outcome is not None}


def digest_tree(folder: Path) -> dict[str, str]:
    """sha256 of every file but the output-folder marker, which records when the run started and finished."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
            if p.is_file() and p.name != "antrenor-stage.json"}


def test_messy_file_keeps_exactly_the_good_distinct_records(tmp_path: Path, capsys):
    source = tmp_path / "messy.jsonl"
    expected = write_messy_instructions(source)
    before = source.read_bytes()
    out = tmp_path / "out"
    code = main(["prepare", "--input", str(source), "--output", str(out), "--json",
                 "--set", "split.validation=0", "--set", "split.test=0", "--set", "dedup.threshold=0.8"])
    assert code == 0
    assert source.read_bytes() == before  # the input is never modified
    kept = [r["output"] for r in read_jsonl(out / "train.jsonl")]
    assert kept == [v for v in expected.values() if " " in v]  # outputs, not reject codes
    rejects = {r["line"]: r for r in read_jsonl(out / "rejects.jsonl")}
    assert {line: r["code"] for line, r in rejects.items()} == {
        line: outcome for line, outcome in expected.items() if outcome in {
            "invalid_json", "missing_field", "wrong_type", "invalid_utf8", "too_large",
            "exact_duplicate", "near_duplicate", "too_short", "not_an_object"}}
    assert all(r["file"] == str(source) and r["reason"] and r["fix"] for r in rejects.values())
    assert "of " + str(source) + ":2" in rejects[9]["reason"]
    summary = json.loads(capsys.readouterr().out)
    assert summary["normalization"]["cedilla ş ţ -> comma-below ș ț"] == 1
    assert summary["counts"]["read"] == 12 and summary["counts"]["rejected"] == 9


def test_same_input_and_seed_give_byte_identical_output(tmp_path: Path, tiny_tokenizer_dir):
    source = write_jsonl(tmp_path / "cls.jsonl", [{"text": f"text {i} " + "a b " * (i % 7), "label": f"l{i % 3}"} for i in range(60)])
    args = ["prepare", "--input", str(source), "--output", str(tmp_path / "out"), "--quiet", "--model", str(tiny_tokenizer_dir)]
    assert main(args) == 0
    first = digest_tree(tmp_path / "out")
    marker = json.loads((tmp_path / "out" / "antrenor-stage.json").read_text())
    assert main(args) == 0
    assert digest_tree(tmp_path / "out") == first
    again = json.loads((tmp_path / "out" / "antrenor-stage.json").read_text())
    assert {k: again[k] for k in ("stage", "inputs", "files")} == {k: marker[k] for k in ("stage", "inputs", "files")}
    assert set(first) >= {"train.jsonl", "validation.jsonl", "test.jsonl", "rejects.jsonl", "manifest.json",
                          "prepare_config.yaml", "data_report.md", "data_report.html"}
    assert main(args[:-2] + ["--seed", "7"]) == 0
    assert digest_tree(tmp_path / "out")["train.jsonl"] != first["train.jsonl"]


def test_labels_missing_in_some_rows_and_a_label_only_in_test(tmp_path: Path):
    (tmp_path / "train.csv").write_text("text,label\n" + "".join(f"exemplu {i},{'da' if i % 2 else 'nu'}\n" for i in range(20)) + "fără etichetă,\n", encoding="utf-8")
    (tmp_path / "test.csv").write_text("text,label\nceva nou,poate\nceva vechi,da\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["prepare", "--input", str(tmp_path / "train.csv"), "--input", str(tmp_path / "test.csv"),
                 "--output", str(out), "--quiet"]) == 0
    rejects = read_jsonl(out / "rejects.jsonl")
    assert [(Path(r["file"]).name, r["line"], r["code"]) for r in rejects] == [
        ("train.csv", 22, "missing_field"), ("test.csv", 2, "label_unseen_in_train")]
    assert "'poate'" in rejects[1]["reason"]
    assert [r["text"] for r in read_jsonl(out / "test.jsonl")] == ["ceva vechi"]
    assert len(read_jsonl(out / "validation.jsonl")) == 2  # carved from train, stratified


def test_exit_codes_bad_config_is_2_no_usable_data_is_1(tmp_path: Path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert main(["prepare", "--input", str(empty), "--output", str(tmp_path / "o")]) == 1
    assert "no usable record" in capsys.readouterr().err
    assert main(["prepare", "--input", str(tmp_path / "missing.jsonl"), "--output", str(tmp_path / "o"), "--set", "sed=1"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'seed'" in err
    assert main(["prepare", "--input", str(tmp_path / "missing.jsonl"), "--output", str(tmp_path / "o")]) == 2
    assert "missing.jsonl does not exist" in capsys.readouterr().err
    assert main(["prepare", "--input", str(empty), "--output", str(tmp_path / "o"), "--model", "no-such-alias"]) == 2


def test_strict_mode_stops_at_the_first_bad_record_with_its_line(tmp_path: Path, capsys):
    source = tmp_path / "d.jsonl"
    source.write_text('{"text": "bun"}\n{"text": 5, "x": \n', encoding="utf-8")
    assert main(["prepare", "--input", str(source), "--output", str(tmp_path / "o"), "--strict"]) == 1
    assert f"{source}:2: malformed JSON" in capsys.readouterr().err


def test_unknown_fields_get_a_column_mapping_hint(tmp_path: Path, capsys):
    source = write_jsonl(tmp_path / "d.jsonl", [{"body": "x", "category": "y"}] * 3)
    assert main(["prepare", "--input", str(source), "--output", str(tmp_path / "o")]) == 1
    assert "columns.text=body" in capsys.readouterr().err
    assert main(["prepare", "--input", str(source), "--output", str(tmp_path / "o"), "--quiet",
                 "--set", "columns={text: body, label: category}", "--set", "dedup.exact=false"]) == 0
    assert read_jsonl(tmp_path / "o" / "train.jsonl")[0] == {"text": "x", "label": "y"}


def test_too_long_records_are_dropped_or_truncated_and_reported(tmp_path: Path, tiny_tokenizer_dir):
    rows = [{"instruction": "unu", "output": "a " * n} for n in (2, 40)]
    source = write_jsonl(tmp_path / "i.jsonl", rows)
    out = tmp_path / "o"
    assert main(["prepare", "--input", str(source), "--output", str(out), "--quiet", "--model", str(tiny_tokenizer_dir),
                 "--set", "filters.max_length=20", "--set", "split.validation=0", "--set", "split.test=0"]) == 0
    assert [r["code"] for r in read_jsonl(out / "rejects.jsonl")] == ["too_long"]
    texts = write_jsonl(tmp_path / "t.jsonl", [{"text": "a b c d e " * 10}])
    out = tmp_path / "o2"  # another input: a folder of its own (the first one holds i.jsonl's results)
    args = ["prepare", "--input", str(texts), "--output", str(out), "--quiet", "--model", str(tiny_tokenizer_dir),
            "--set", "filters.max_length=10", "--set", "split.validation=0", "--set", "split.test=0"]
    assert main(args) == 0  # raw text is kept whole by default: training chunks it
    assert read_jsonl(out / "train.jsonl")[0]["text"] == ("a b c d e " * 10).strip()
    assert json.loads((out / "manifest.json").read_text())["counts"]["over_max_length"] == 1
    assert main(args + ["--set", "filters.too_long=truncate"]) == 0
    assert read_jsonl(out / "train.jsonl")[0]["text"] == "a b c d e a b c d e"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["truncated"] == 1


def test_diacritics_augmentation_only_touches_train_user_side(tmp_path: Path):
    rows = [{"instruction": f"Întrebare {i} despre țară", "output": f"Răspuns {i} în română"} for i in range(50)]
    source = write_jsonl(tmp_path / "i.jsonl", rows)
    out = tmp_path / "o"
    assert main(["prepare", "--input", str(source), "--output", str(out), "--quiet", "--set", "augment.strip_diacritics=1.0",
                 "--set", "dedup.near=false"]) == 0
    train = read_jsonl(out / "train.jsonl")
    plain = [r for r in train if r["instruction"].startswith("Intrebare")]
    assert len(plain) == 40 and all("tara" in r["instruction"] and "ă" in r["output"] for r in plain)
    assert not any(r["instruction"].startswith("Intrebare") for r in read_jsonl(out / "test.jsonl"))


def test_report_files_describe_the_run(tmp_path: Path, tiny_tokenizer_dir):
    source = write_jsonl(tmp_path / "c.jsonl", [{"text": f"a b c {i}", "label": "x" if i % 2 else "y"} for i in range(30)])
    out = tmp_path / "o"
    assert main(["prepare", "--input", str(source), "--output", str(out), "--quiet", "--model", str(tiny_tokenizer_dir)]) == 0
    html = (out / "data_report.html").read_text()
    markdown = (out / "data_report.md").read_text()
    assert "<svg" in html and "Labels per split" in html and "Token lengths" in html
    assert "| train |" in markdown and "## Labels" in markdown
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["inputs"][0]["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert manifest["splits"] == {"train": 24, "validation": 3, "test": 3}
    assert "transformers" in manifest["versions"]
    assert (out / "prepare_config.yaml").read_text().startswith("prepare:\n")


@pytest.mark.parametrize("fmt", ["csv", "parquet", "txt"])
def test_other_formats_end_to_end(tmp_path: Path, fmt):
    if fmt == "csv":
        source = tmp_path / "d.csv"
        source.write_text("text,label\n" + "".join(f"rând {i},{i % 2}\n" for i in range(10)), encoding="utf-8")
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        source = tmp_path / "d.parquet"
        pq.write_table(pa.table({"prompt": [f"p{i}" for i in range(10)], "chosen": ["bun"] * 10, "rejected": ["rău"] * 10}), source)
    else:
        source = tmp_path / "d.txt"
        source.write_text("".join(f"Propoziția numărul {i}.\n" for i in range(10)), encoding="utf-8")
    out = tmp_path / "o"
    assert main(["prepare", "--input", str(source), "--output", str(out), "--quiet", "--set", "dedup.near=false"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == {"csv": "classification", "parquet": "preference", "txt": "text"}[fmt]
    assert sum(manifest["splits"].values()) == 10


def test_max_records_keeps_the_first_valid_records_and_says_so(tmp_path: Path):
    rows = [{"text": f"Articolul {i} despre altceva decât celelalte numărul {i * 7}", "label": "ab"[i % 2]} for i in range(30)]
    source = tmp_path / "rows.jsonl"
    source.write_text("not json\n" + "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "o"
    assert main(["prepare", "--input", str(source), "--output", str(out), "--quiet", "--set", "max_records=12",
                 "--set", "dedup.near=false"]) == 0
    kept = [r["text"] for split in ("train", "validation", "test") for r in read_jsonl(out / f"{split}.jsonl")]
    assert sorted(kept) == sorted(r["text"] for r in rows[:12])  # the invalid first line does not count
    assert "max_records 12 reached at " + str(source) + ":13" in (out / "data_report.md").read_text()
