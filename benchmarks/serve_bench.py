"""Serving speed of the demo classifier: PyTorch vs ONNX Runtime (fp32 and int8), and the HTTP server.

What it prints:
1. Per runtime, on texts from the test split (truncated to 128 tokens, as in training, and
   tokenized once beforehand, so only the model runs are timed): median latency of one text at a
   time (batch 1), texts/s at batch 32, and test accuracy. Speed-ups are against PyTorch fp32 in
   the same run. Every runtime uses both cores.
2. The server (`antrenor serve`, a real uvicorn process on loopback) under 16 concurrent
   clients posting one text each to /v1/classify: requests/s, p50/p99 latency, errors, rows
   in the request log; once with the torch backend and once with the ONNX int8 file.

Targets (issue 6): ONNX >= 2x PyTorch at batch 1; int8 >= 3x with <= 1 point accuracy loss.

    python benchmarks/serve_bench.py                       # the demo classifier (trains/exports it if missing)
    python benchmarks/serve_bench.py --model runs/demo/legal-classification/model --requests 400
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MAX_TOKENS = 128


def ensure_export(model: Path, export_dir: Path) -> None:
    if (export_dir / "model.int8.onnx").is_file():
        return
    from antrenor import export

    export({"model": str(model), "output": str(export_dir), "format": "onnx", "quantize": "int8"})


def test_texts(model: Path) -> tuple[list[str], list[str]]:
    manifest = json.loads((model / "manifest.json").read_text())
    rows = [json.loads(line) for line in (Path(manifest["data"]["folder"]) / "test.jsonl").read_text().splitlines()]
    return [r["text"] for r in rows], [str(r["label"]) for r in rows]


def runtimes(export_dir: Path) -> dict:
    import torch
    from transformers import AutoModelForSequenceClassification

    from antrenor.models.onnx_runtime import OnnxClassifier

    model = AutoModelForSequenceClassification.from_pretrained(export_dir).eval()

    def torch_logits(batch):
        with torch.inference_mode():
            return model(**{k: torch.as_tensor(v) for k, v in batch.items()}).logits.numpy()

    return {"pytorch fp32": torch_logits, "onnx fp32": OnnxClassifier(export_dir / "model.onnx").logits,
            "onnx int8": OnnxClassifier(export_dir / "model.int8.onnx").logits}


def measure_runtimes(export_dir: Path, texts: list[str], labels: list[str], singles_count: int) -> list[dict]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(export_dir)
    label2id = json.loads((export_dir / "config.json").read_text())["label2id"]
    truth = np.array([label2id[label] for label in labels])

    def encode(chunk):
        return dict(tokenizer(chunk, truncation=True, max_length=MAX_TOKENS, padding=True, return_tensors="np"))

    singles = [encode([text]) for text in texts[:singles_count]]  # tokenized once: only the runtimes are timed
    batches = [encode(texts[i : i + 32]) for i in range(0, len(texts), 32)]
    results = []
    for name, logits in runtimes(export_dir).items():
        for batch in singles[:3]:
            logits(batch)  # warm-up
        latencies = []
        for batch in singles:
            begin = time.perf_counter()
            logits(batch)
            latencies.append(time.perf_counter() - begin)
        started = time.perf_counter()
        predicted = np.concatenate([logits(batch).argmax(-1) for batch in batches])
        batch_seconds = time.perf_counter() - started
        results.append({"runtime": name, "batch1_ms": 1000 * statistics.median(latencies),
                        "batch32_texts_per_s": len(texts) / batch_seconds,
                        "accuracy": 100 * float((predicted == truth).mean())})
    return results


def load_test(url: str, texts: list[str], requests: int, clients: int) -> dict:
    import httpx

    latencies, statuses, lock = [], [], threading.Lock()
    counter = iter(range(requests))

    def client() -> None:
        with httpx.Client(timeout=60) as http:
            for i in counter:
                begin = time.perf_counter()
                response = http.post(f"{url}/v1/classify", json={"input": texts[i % len(texts)]})
                with lock:
                    latencies.append(time.perf_counter() - begin)
                    statuses.append(response.status_code)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    ordered = sorted(latencies)
    return {"requests_per_s": len(statuses) / seconds, "p50_ms": 1000 * ordered[len(ordered) // 2],
            "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
            "errors": sum(s >= 400 for s in statuses), "requests": len(statuses)}


def measure_server(export_dir: Path, backend_model: str, backend: str, texts: list[str], requests: int,
                   clients: int) -> dict:
    sys.path.insert(0, str(REPO))
    from antrenor.records.request_log import RequestLog
    from tests.unit.serve_process import ServerProcess

    with tempfile.TemporaryDirectory() as folder:
        server = ServerProcess(Path(backend_model), Path(folder), "--backend", backend).wait_ready(180)
        try:
            load_test(server.url, texts, 32, clients)  # warm-up
            found = load_test(server.url, texts, requests, clients)
        finally:
            server.stop()
        found["log_rows"] = RequestLog(server.log_db).count()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=REPO / "runs/demo/legal-classification/model")
    parser.add_argument("--export", type=Path, default=None, help="default: <model>/../export")
    parser.add_argument("--singles", type=int, default=100, help="texts timed one at a time")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    if not (args.model / "manifest.json").is_file():
        subprocess.run([sys.executable, "-m", "antrenor", "prepare", "--config", "examples/legal-classification.yaml"],
                       cwd=REPO, check=True)
        subprocess.run([sys.executable, "-m", "antrenor", "train", "--config", "examples/legal-classification.yaml"],
                       cwd=REPO, check=True)
    export_dir = args.export or args.model.parent / "export"
    ensure_export(args.model, export_dir)
    texts, labels = test_texts(args.model)
    print(f"{len(texts)} test texts, at most {MAX_TOKENS} tokens each")
    rows = measure_runtimes(export_dir, texts, labels, args.singles)
    base = rows[0]
    print(f"{'runtime':<14} {'batch-1 ms':>10} {'speed-up':>9} {'batch-32 texts/s':>17} {'speed-up':>9} {'accuracy':>9}")
    for row in rows:
        print(f"{row['runtime']:<14} {row['batch1_ms']:10.2f} {base['batch1_ms'] / row['batch1_ms']:8.2f}x "
              f"{row['batch32_texts_per_s']:17.1f} {row['batch32_texts_per_s'] / base['batch32_texts_per_s']:8.2f}x "
              f"{row['accuracy']:8.2f}%")
    print(f"\nserver, {args.clients} concurrent clients, {args.requests} requests to /v1/classify")
    print(f"{'backend':<14} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'log rows':>9}")
    for label, model, backend in (("torch", export_dir, "torch"), ("onnx int8", export_dir / "model.int8.onnx", "onnx")):
        found = measure_server(export_dir, str(model), backend, texts, args.requests, args.clients)
        print(f"{label:<14} {found['requests_per_s']:7.1f} {found['p50_ms']:8.1f} {found['p99_ms']:8.1f} "
              f"{found['errors']:7d} {found['log_rows']:9d}")


if __name__ == "__main__":
    main()
