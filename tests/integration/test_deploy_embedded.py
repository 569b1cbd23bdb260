"""The deployment life cycle on the demo classifier (exported to ONNX int8 by the demo pipeline): serve, log, monitor drift."""

import httpx
import pytest

from antrenor import monitor
from tests.conftest import DEMO, read_jsonl
from tests.unit.serve_process import ServerProcess

pytestmark = pytest.mark.integration


@pytest.mark.xdist_group("classification-demo")
def test_demo_classifier_exported_served_logged_and_monitored(classification_demo, tmp_path):
    folder = classification_demo[0]
    data = folder / "runs" / "demo" / "legal-classification" / "data"
    exported = folder / "runs" / "demo" / "legal-classification" / "export"
    assert (exported / "model.int8.onnx").is_file()

    # raw demo articles, as a user would send them (cedilla ş ţ included): the server normalizes them as prepare did
    # (the demo trains on 1,079 of the 1,349 articles, so some of these were seen in training)
    articles = read_jsonl(DEMO / "legal-classification" / "articles.jsonl")[500:560]
    medical = read_jsonl(DEMO / "ood-medical" / "sentences.jsonl")[:60]
    server = ServerProcess(exported / "model.int8.onnx", tmp_path, "--backend", "onnx", "--quiet").wait_ready()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            answers = [client.post("/v1/classify", json={"input": a["text"]}) for a in articles]
            assert {r.status_code for r in answers} == {200}
            correct = sum(r.json()["data"][0]["label"] == a["label"] for r, a in zip(answers, articles))
            assert correct >= 0.6 * len(articles)  # a real classifier, really classifying (chance: 1/9)
            quiet = monitor({"log": str(server.log_db), "reference": str(data), "output": str(tmp_path / "monitor-1")})
            batch = client.post("/v1/classify", json={"input": [m["text"] for m in medical]})
            assert batch.status_code == 200 and len(batch.json()["data"]) == 60
    finally:
        server.stop()
    logged = [text for row in _rows(server.log_db) for text in row["inputs"]]
    assert len(logged) == 120 and not any(c in "".join(logged) for c in "şţŞŢ")  # what the model saw: comma-below
    assert quiet.exit_code == 0, [(s.name, s.verdict, s.note) for s in quiet.signals]
    drifted = monitor({"log": str(server.log_db), "reference": str(data), "output": str(tmp_path / "monitor-2")})
    assert drifted.exit_code == 3
    verdicts = {s.name.split(" ")[0]: s.verdict for s in drifted.signals}
    assert verdicts["vocabulary"] == "drift" and verdicts["embedding"] == "drift", verdicts
    assert drifted.to_label and drifted.to_label.is_file()
    assert (tmp_path / "monitor-2" / "drift_report.html").is_file()


def _rows(log_db):
    from antrenor.records.request_log import RequestLog

    return RequestLog(log_db).rows()
