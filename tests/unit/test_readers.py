import gzip
import json
from pathlib import Path

import pytest

from antrenor.data.readers import input_files, read_records, split_from_name


def read(path: Path, fmt: str, **kw):
    return list(read_records(path, fmt, text_unit=kw.get("text_unit", "line"), max_bytes=kw.get("max_bytes", 10_000), progress=lambda n: None))


def test_jsonl_bom_crlf_blank_lines_and_bad_lines(tmp_path: Path):
    path = tmp_path / "data.jsonl"
    path.write_bytes(
        b'\xef\xbb\xbf{"text": "unu"}\r\n'  # BOM + CRLF
        b"\n"  # blank line: skipped, not a record
        b'{"text": "doi"\n'  # malformed
        b'["not", "an", "object"]\n'
        b'{"text": "tr\xff"}\n'  # invalid UTF-8
        b'{"text": "' + b"x" * 20_000 + b'"}\n'  # too large
        b'{"text": "patru"}'  # no final newline
    )
    records = read(path, "jsonl")
    assert [(r.line, r.fields, r.problem.code if r.problem else None) for r in records] == [
        (1, {"text": "unu"}, None),
        (3, None, "invalid_json"),
        (4, None, "not_an_object"),
        (5, None, "invalid_utf8"),
        (6, None, "too_large"),
        (7, {"text": "patru"}, None),
    ]
    assert "column" in records[1].problem.reason and records[1].problem.fix
    assert "byte 12 of the line (0xff)" in records[3].problem.reason and "iconv" in records[3].problem.fix
    assert records[3].raw.startswith('{"text": "tr\\xff')  # the raw text is kept, visibly


def test_json_array_reports_element_lines_and_stops_at_a_syntax_error(tmp_path: Path):
    path = tmp_path / "data.json"
    path.write_text('[\n  {"text": "a"},\n  {"text": "b"},\n  7,\n  {"text": "c" oops}\n]\n', encoding="utf-8")
    records = read(path, "json")
    assert [(r.line, r.problem.code if r.problem else r.fields["text"]) for r in records] == [
        (2, "a"), (3, "b"), (4, "not_an_object"), (5, "invalid_json")]


def test_json_file_holding_json_lines_is_read_as_lines(tmp_path: Path):
    path = tmp_path / "data.json"
    path.write_text('{"text": "a"}\n{"text": "b"}\n', encoding="utf-8")
    assert [r.fields["text"] for r in read(path, "json")] == ["a", "b"]


def test_csv_quoted_newlines_keep_start_line_and_bad_rows_are_named(tmp_path: Path):
    path = tmp_path / "data.csv"
    path.write_bytes(
        "\ufefftext,label\n"
        '"două\nrânduri",pozitiv\n'
        "simplu,negativ\n"
        "prea,multe,câmpuri\n"
        "fără etichetă,\n".encode("utf-8")
        + b"r\xe2u,negativ\n"
    )
    records = read(path, "csv")
    assert records[0].line == 2 and records[0].fields == {"text": "două\nrânduri", "label": "pozitiv"}
    assert records[1].line == 4 and records[1].fields == {"text": "simplu", "label": "negativ"}
    assert records[2].line == 5 and records[2].problem.code == "bad_columns"
    assert records[3].fields == {"text": "fără etichetă"}  # an empty cell is a missing value
    assert records[4].line == 7 and records[4].problem.code == "invalid_utf8"


def test_tsv_and_gzip(tmp_path: Path):
    path = tmp_path / "pairs.tsv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("text_a\ttext_b\tscore\nUn avion.\tUn avion zboară.\t4.2\n")
    (record,) = read(path, "tsv")
    assert record.fields == {"text_a": "Un avion.", "text_b": "Un avion zboară.", "score": "4.2"}


def test_parquet_rows(tmp_path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "data.parquet"
    pq.write_table(pa.table({"text": ["a", "b"], "label": [0, 1]}), path)
    records = read(path, "parquet")
    assert [(r.line, r.unit, r.fields) for r in records] == [(1, "row", {"text": "a", "label": 0}), (2, "row", {"text": "b", "label": 1})]
    assert records[0].where.endswith("row 1")


def test_text_units(tmp_path: Path):
    path = tmp_path / "corpus.txt"
    path.write_text("Primul paragraf,\ncontinuat.\n\n\nAl doilea.\n", encoding="utf-8")
    by_line = read(path, "text")
    assert [(r.line, r.fields["text"]) for r in by_line] == [(1, "Primul paragraf,"), (2, "continuat."), (5, "Al doilea.")]
    by_paragraph = read(path, "text", text_unit="paragraph")
    assert [(r.line, r.fields["text"]) for r in by_paragraph] == [(1, "Primul paragraf,\ncontinuat."), (5, "Al doilea.")]
    (whole,) = read(path, "text", text_unit="file")
    assert whole.fields["text"].startswith("Primul") and whole.fields["text"].endswith("\n\n\nAl doilea.")


def test_saved_datasets_folder_keeps_its_splits(tmp_path: Path):
    import datasets

    folder = tmp_path / "hf"
    datasets.DatasetDict({
        "train": datasets.Dataset.from_dict({"text": ["a", "b"], "label": [0, 1]}),
        "test": datasets.Dataset.from_dict({"text": ["c"], "label": [1]}),
    }).save_to_disk(str(folder))
    files, problems = input_files([str(folder)])
    assert problems == [] and files == [(folder, "hf")]
    records = read(folder, "hf")
    assert [(r.split, r.fields["text"]) for r in records] == [("train", "a"), ("train", "b"), ("test", "c")]


def test_input_files_expands_folders_and_reports_every_problem(tmp_path: Path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "train.jsonl").write_text("{}\n")
    (tmp_path / "d" / "README.md").write_text("# about\n")
    (tmp_path / "d" / "LICENSE.md").write_text("CC BY-SA\n")
    (tmp_path / "odd.xlsx").write_text("")
    files, problems = input_files([str(tmp_path / "d"), str(tmp_path / "missing.jsonl"), str(tmp_path / "odd.xlsx")])
    assert files == [(tmp_path / "d" / "train.jsonl", "jsonl")]
    assert len(problems) == 2 and "does not exist" in problems[0] and "cannot tell the format" in problems[1]


@pytest.mark.parametrize("name,split", [
    ("RO-STS.train.tsv", "train"), ("legal_dev.jsonl", "validation"), ("validation.jsonl", "validation"),
    ("test.jsonl", "test"), ("articles.jsonl", None), ("contest.jsonl", None),
])
def test_split_from_file_name(name, split):
    assert split_from_name(name) == split


def test_reading_never_modifies_the_input(tmp_path: Path):
    path = tmp_path / "data.jsonl"
    content = b'{"text": "a\xc5\x9f"}\r\n\xef\xbb\xbf{bad\n'
    path.write_bytes(content)
    read(path, "jsonl")
    assert path.read_bytes() == content
    assert json.loads(content.splitlines()[0])["text"] == "aş"


def test_lone_surrogate_escape_is_rejected_not_crashing_later(tmp_path: Path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"text": "ok"}\n{"text": "half \\ud800 char"}\n', encoding="utf-8")
    records = read(path, "jsonl")
    assert records[0].problem is None and records[1].problem.code == "invalid_unicode"


TEXT = '{"text": "Articolul 1 ș ț"}\n{"text": "Articolul 2"}\n'


@pytest.mark.parametrize("name, data, expected", [
    ("bom16.jsonl", TEXT.encode("utf-16"), ("is UTF-16 text (UTF-16LE, from its byte-order mark), not UTF-8: convert "
                                            "it with iconv -f UTF-16 -t UTF-8 {folder}/bom16.jsonl > "
                                            "{folder}/bom16.utf8.jsonl")),
    ("le.csv", TEXT.encode("utf-16-le"), "is UTF-16LE text (no byte-order mark, a NUL byte at every other position)"),
    ("be.txt", TEXT.encode("utf-16-be"), "is UTF-16BE text (no byte-order mark, a NUL byte at every other position)"),
    ("wide.jsonl", TEXT.encode("utf-32"), ("is UTF-32 text (UTF-32LE, from its byte-order mark), not UTF-8: convert "
                                           "it with iconv -f UTF-32 -t UTF-8")),
    ("packed.jsonl.gz", gzip.compress(TEXT.encode("utf-16"), mtime=0), ("convert it with gunzip -c {folder}/packed.jsonl.gz | "
                                                               "iconv -f UTF-16 -t UTF-8 > {folder}/packed.utf8.jsonl")),
    ("binary.txt", bytes(range(1, 200)) * 3 + b"\0\0\0" * 200, "holds NUL bytes in a pattern of no text encoding"),
])
def test_a_file_in_another_encoding_is_named_with_its_iconv_fix(tmp_path: Path, name, data, expected):
    (tmp_path / name).write_bytes(data)
    _, problems = input_files([str(tmp_path / name)])
    assert len(problems) == 1 and expected.format(folder=tmp_path) in problems[0], problems


def test_utf8_files_with_or_without_bom_raise_no_encoding_problem(tmp_path: Path):
    (tmp_path / "plain.jsonl").write_text(TEXT, encoding="utf-8")
    (tmp_path / "bom.jsonl").write_text(TEXT, encoding="utf-8-sig")
    (tmp_path / "empty.jsonl").write_bytes(b"")
    assert input_files([str(tmp_path)])[1] == []


def test_prepare_refuses_a_utf16_file_before_any_work(tmp_path: Path, capsys):
    from antrenor.cli import main

    (tmp_path / "data.jsonl").write_bytes(TEXT.encode("utf-16"))
    assert main(["prepare", "--input", str(tmp_path / "data.jsonl"), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "is UTF-16 text" in err and "iconv -f UTF-16 -t UTF-8" in err and "invalid UTF-8 at byte 0" not in err
    assert not (tmp_path / "out").exists()
