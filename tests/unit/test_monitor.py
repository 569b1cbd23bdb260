"""`antrenor monitor` end to end: a request log and a prepared reference in, report + exit code out."""

import json
import random

import numpy as np
import pytest
import yaml

from antrenor import monitor
from antrenor.cli import main
from antrenor.errors import ConfigError
from antrenor.records.normalize import TextNormalizer
from antrenor.records.request_log import RequestLog
from tests.conftest import DEMO, prepared, read_jsonl, write_jsonl

FAST = ["length", "vocabulary", "diacritics", "cedilla", "language", "labels", "confidence"]  # no model to load


@pytest.fixture(scope="module")
def legal(tmp_path_factory):
    """A prepared reference of 150 seeded legal articles, and 150 others as same-distribution production."""
    rows = read_jsonl(DEMO / "legal-classification" / "articles.jsonl")
    random.Random(0).shuffle(rows)
    return prepared(tmp_path_factory, "legal-ref", rows[:150]), rows[150:300]


def write_log(path, texts, labels, scores, endpoint="/v1/classify", start_minute=0):
    """One classify row per text, a minute apart; plus a chat row and a failed row that must be ignored."""
    log = RequestLog(path)
    ids = []
    for i, (text, label, score) in enumerate(zip(texts, labels, scores)):
        minute = start_minute + i
        ids.append(log.record(endpoint=endpoint, model="legal", status=200, latency_ms=8.0, inputs=[text],
                              outputs=[{"label": label, "score": score, "scores": {label: score}}],
                              created_at=f"2025-03-{1 + minute // 1440:02d}T{minute // 60 % 24:02d}:{minute % 60:02d}:00.000+00:00"))
    log.record(endpoint="/v1/chat/completions", model="legal", status=200, latency_ms=30.0, inputs=["Salut, ce faci?"],
               outputs=["Bine."])
    log.record(endpoint="/v1/classify", model="legal", status=500, latency_ms=1.0, inputs=["eroare"], error="boom")
    log.close()
    return ids


def run_cli(*args):
    return main(["monitor", "--quiet", *args])


def test_same_distribution_log_reports_no_drift_and_exits_0(legal, tmp_path):
    reference, production = legal
    normalize = TextNormalizer()  # the texts as prepare wrote the reference: cedilla fixed
    rng = np.random.default_rng(0)
    write_log(tmp_path / "requests.db", [normalize(r["text"]) for r in production], [r["label"] for r in production],
              np.clip(rng.normal(0.9, 0.03, len(production)), 0, 1).tolist())
    code = run_cli("--log", str(tmp_path / "requests.db"), "--reference", str(reference), "--output", str(tmp_path / "out"),
                   "--set", "sample_size=60", "--set", "embedding_max_length=64")
    summary = json.loads((tmp_path / "out" / "drift.json").read_text())
    assert code == 0 and summary["drift"] is False and summary["exit_code"] == 0
    verdicts = {s["name"]: s["verdict"] for s in summary["signals"]}
    assert len(verdicts) == 8 and set(verdicts.values()) == {"ok"}, verdicts
    assert summary["production"]["inputs"] == 150 and summary["production"]["endpoints"] == ["/v1/classify"]
    assert summary["production"]["skipped_rows"] == {"other endpoint": 1, "status not 200": 1}
    assert summary["production"]["first"].startswith("2025-03-01T00:00") and summary["production"]["last"].startswith("2025-03-01T02:29")
    assert not (tmp_path / "out" / "to_label.jsonl").exists() and summary["to_label"] is None
    html = (tmp_path / "out" / "drift_report.html").read_text()
    assert "No drift" in html and html.count("data:image/png;base64,") == 3  # length, diacritics, labels
    assert "| predicted labels |" in (tmp_path / "out" / "drift_report.md").read_text()


def test_shifted_log_drifts_exits_3_and_writes_a_sample_to_label(legal, tmp_path):
    reference, _ = legal
    medical = [r["text"] for r in read_jsonl(DEMO / "ood-medical" / "sentences.jsonl")][:120]
    scores = [0.95] * 60 + [0.55] * 60  # the newer half is less sure
    ids = write_log(tmp_path / "requests.db", medical, ["civil_code"] * 120, scores)
    code = run_cli("--log", str(tmp_path / "requests.db"), "--reference", str(reference), "--output", str(tmp_path / "out"),
                   "--set", f"signals={json.dumps(FAST)}", "--set", "label_sample=25")
    summary = json.loads((tmp_path / "out" / "drift.json").read_text())
    assert code == 3 and summary["drift"] is True
    assert {"input length (words)", "vocabulary (OOV rate)", "predicted labels", "classifier confidence"} <= set(
        summary["drifted_signals"])
    assert {s["name"]: s["verdict"] for s in summary["signals"]}["language"] == "ok"
    to_label = read_jsonl(tmp_path / "out" / "to_label.jsonl")
    assert len(to_label) == 25 and all(set(r) == {"text", "label", "request_id"} and r["label"] == "" for r in to_label)
    assert {r["request_id"] for r in to_label} <= set(ids) and all(r["text"] in medical for r in to_label)
    assert "Drift found" in (tmp_path / "out" / "drift_report.md").read_text()
    again = monitor({"log": str(tmp_path / "requests.db"), "reference": str(reference), "output": str(tmp_path / "again"),
                     "signals": FAST, "label_sample": 25})
    assert read_jsonl(tmp_path / "again" / "to_label.jsonl") == to_label  # seeded: the same sample each run
    assert [s.statistic for s in again.signals] == [s["statistic"] for s in summary["signals"]]


def test_since_and_window_choose_the_rows_compared(legal, tmp_path):
    reference, production = legal
    normalize = TextNormalizer()
    old = [normalize(r["text"]) for r in production[:100]]
    medical = [r["text"] for r in read_jsonl(DEMO / "ood-medical" / "sentences.jsonl")][:60]
    write_log(tmp_path / "requests.db", old + medical, ["civil_code"] * 160, [0.9] * 160)
    base = {"log": str(tmp_path / "requests.db"), "reference": str(reference), "signals": ["length"]}
    recent = monitor({**base, "output": str(tmp_path / "since"), "since": "2025-03-01T01:39:30"})
    assert recent.summary["production"]["inputs"] == 60 and recent.drifted
    assert recent.summary["production"]["first"].startswith("2025-03-01T01:40")
    window = monitor({**base, "output": str(tmp_path / "window"), "window": 40})
    assert window.summary["production"]["inputs"] == 40 and window.summary["production"]["last"].startswith("2025-03-01T02:39")
    older = monitor({**base, "output": str(tmp_path / "older"), "since": None, "window": None,
                     "endpoints": ["/v1/chat/completions"]})
    assert older.summary["production"]["inputs"] == 1 and older.signals[0].verdict == "not enough data"


def test_too_few_inputs_give_no_verdict_and_exit_0(legal, tmp_path):
    reference, _ = legal
    medical = [r["text"] for r in read_jsonl(DEMO / "ood-medical" / "sentences.jsonl")][:10]
    write_log(tmp_path / "requests.db", medical, ["penal_code"] * 10, [0.2] * 10)
    result = monitor({"log": str(tmp_path / "requests.db"), "reference": str(reference), "output": str(tmp_path / "out"),
                      "signals": FAST})
    assert {s.verdict for s in result.signals} == {"not enough data"} and result.exit_code == 0
    assert not (tmp_path / "out" / "to_label.jsonl").exists()


def test_missing_log_bad_reference_and_bad_pipeline_are_config_errors(legal, tmp_path, capsys):
    reference, _ = legal
    (tmp_path / "not-prepared").mkdir()
    (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump({"prepare": {"input": ["x.jsonl"]}}))
    with pytest.raises(ConfigError) as error:
        monitor({"log": str(tmp_path / "missing.db"), "reference": str(tmp_path / "not-prepared"),
                 "output": str(tmp_path / "out"), "retrain": str(tmp_path / "pipeline.yaml")})
    problems = "\n".join(error.value.problems)
    assert "missing.db does not exist" in problems
    assert "not-prepared is not an `antrenor prepare` output" in problems
    assert "needs a train section" in problems
    assert not (tmp_path / "out").exists()  # found before any work
    code = run_cli("--log", str(tmp_path / "missing.db"), "--reference", str(reference), "--output", str(tmp_path / "o"))
    assert code == 2 and "missing.db does not exist" in capsys.readouterr().err


@pytest.fixture(scope="module")
def tiny_task(tmp_path_factory):
    """Raw and prepared classification rows over the tiny tokenizer's words w0..w99."""
    rng = random.Random(1)
    rows = [{"text": {"a": "w1 w2 ", "b": "w3 w4 "}[label] + " ".join(f"w{rng.randrange(10, 60)}" for _ in range(6)),
             "label": label} for label in ("a", "b") * 40]
    folder = tmp_path_factory.mktemp("tiny-raw")
    return write_jsonl(folder / "train.jsonl", rows), prepared(tmp_path_factory, "tiny-ref", rows)


def drifted_tiny_log(path):
    rng = random.Random(2)
    texts = [" ".join(f"w{rng.randrange(60, 100)}" for _ in range(30)) for _ in range(60)]  # longer, unseen words
    write_log(path, texts, ["a"] * 60, [0.7] * 60)
    return texts


def test_retrain_on_drift_trains_on_the_labelled_records_and_exits_4(tiny_task, tiny_bert_dir, tmp_path):
    raw, reference = tiny_task
    texts = drifted_tiny_log(tmp_path / "requests.db")
    labelled = [{"text": t, "label": "b", "request_id": i + 1} for i, t in enumerate(texts[:12])]
    write_jsonl(tmp_path / "labelled.jsonl", labelled + [{"text": texts[20], "label": "", "request_id": 21}])
    train = {"model": str(tiny_bert_dir), "task": "classification", "method": "full", "max_steps": 2, "batch_size": 4,
             "effective_batch_size": 8, "report_to": [], "bf16": False, "max_length": 64}
    (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump({
        "prepare": {"input": [str(raw)], "output": "ignored", "dedup": {"near": False}}, "train": train}))
    code = run_cli("--log", str(tmp_path / "requests.db"), "--reference", str(reference), "--output", str(tmp_path / "out"),
                   "--retrain", str(tmp_path / "pipeline.yaml"), "--set", "signals=[length]",
                   "--set", f"labelled={tmp_path / 'labelled.jsonl'}")
    summary = json.loads((tmp_path / "out" / "drift.json").read_text())
    retrain = summary["retrain"]
    assert code == 4 and retrain["status"] == "completed"
    assert retrain["labelled_records"] == 12 and retrain["unlabelled_skipped"] == 1
    folder = tmp_path / "out" / retrain["folder"].split("/")[-1]
    assert folder.name.startswith("retrain-") and (folder / "model" / "config.json").is_file()
    assert json.loads((folder / "model" / "labels.json").read_text())["num_labels"] == 2
    written = [r["text"] for split in ("train", "validation", "test") for r in read_jsonl(folder / "data" / f"{split}.jsonl")]
    assert len(written) == 80 + 12 and set(texts[:12]) <= set(written) and texts[20] not in written


def test_retrain_without_labelled_records_is_skipped_and_exits_3(tiny_task, tiny_bert_dir, tmp_path):
    raw, reference = tiny_task
    drifted_tiny_log(tmp_path / "requests.db")
    (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump({
        "prepare": {"input": [str(raw)]}, "train": {"model": str(tiny_bert_dir), "task": "classification"}}))
    result = monitor({"log": str(tmp_path / "requests.db"), "reference": str(reference), "output": str(tmp_path / "out"),
                      "signals": ["length"], "retrain": str(tmp_path / "pipeline.yaml"),
                      "labelled": str(tmp_path / "not-yet.jsonl")})
    assert result.exit_code == 3 and result.retrain["status"] == "skipped" and "does not exist yet" in result.retrain["reason"]
    assert not list((tmp_path / "out").glob("retrain-*"))


def _fingerprint(path):
    return path.read_bytes(), path.stat().st_mtime_ns


def _sqlite_file(path, *statements):
    import sqlite3

    with sqlite3.connect(path) as db:
        for statement in statements:
            db.execute(statement)
    db.close()
    return path


@pytest.mark.parametrize("make, message", [
    (lambda path: path.write_bytes(random.Random(0).randbytes(4096)) and path,
     "is not a SQLite database (file is not a database), so not an antrenor request log"),
    (lambda path: _sqlite_file(path, "CREATE TABLE notes (x)", "INSERT INTO notes VALUES (1)"),
     "is a SQLite database but not an antrenor request log: it has no `requests` table (tables: notes)"),
    (lambda path: _sqlite_file(path, "CREATE TABLE requests (id INTEGER, body TEXT)"),
     "its `requests` table lacks the columns created_at, endpoint, status, inputs, outputs"),
])
def test_a_file_that_is_not_a_request_log_is_named_and_left_untouched(tmp_path, capsys, make, message):
    log = make(tmp_path / "requests.db")
    (tmp_path / "reference").mkdir()
    (tmp_path / "reference" / "manifest.json").write_text("{}")
    before = _fingerprint(log)
    code = run_cli("--log", str(log), "--reference", str(tmp_path / "reference"), "--output", str(tmp_path / "out"))
    err = capsys.readouterr().err
    assert code == 1 and message in err and "bug in antrenor" not in err
    assert _fingerprint(log) == before  # no table added, no journal mode switched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reference", "requests.db"]  # no -wal, no output folder


@pytest.mark.parametrize("journal", ["wal", "delete"])
def test_monitor_reads_the_log_without_writing_to_it(legal, tmp_path, journal):
    import sqlite3

    reference, production = legal
    log = tmp_path / "requests.db"
    write_log(log, [r["text"] for r in production[:40]], ["civil_code"] * 40, [0.9] * 40)
    _sqlite_file(log, f"PRAGMA journal_mode={journal}")
    before = _fingerprint(log)
    result = monitor({"log": str(log), "reference": str(reference), "output": str(tmp_path / "out"), "signals": ["length"]})
    assert result.summary["production"]["inputs"] == 40
    assert _fingerprint(log) == before
    with sqlite3.connect(f"file:{log}?mode=ro", uri=True) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == journal


def test_since_must_be_an_iso_time_and_is_compared_in_utc(legal, tmp_path, capsys):
    from antrenor.config import load_config
    from antrenor.monitoring.config import MonitorConfig

    base = {"log": "x.db", "reference": "ref", "output": "out"}
    assert load_config(MonitorConfig, flags={**base, "since": "2025-01-31T08:00:00+02:00"}).since == "2025-01-31T06:00:00.000+00:00"
    assert load_config(MonitorConfig, flags={**base, "since": "2025-01-31"}).since == "2025-01-31T00:00:00.000+00:00"
    assert "in the future" in load_config(MonitorConfig, flags={**base, "since": "2999-01-01"}).doubts()[0]
    reference, _ = legal
    for since in ("yesterday", "2025-13-01", "31.01.2025"):
        code = run_cli("--log", str(tmp_path / "x.db"), "--reference", str(reference), "--output", str(tmp_path / "o"),
                       "--since", since)
        err = capsys.readouterr().err
        assert code == 2 and f"since {since!r} is not an ISO-8601 time" in err and "2025-01-31T08:00:00+02:00" in err
