"""The memory estimate against the real peak RSS of short training runs of the embedded models.

Each run trains in a fresh process (its VmHWM covers everything from the imports on; not ru_maxrss,
which Linux carries over from the forking parent, here a pytest worker holding gigabytes), on demo
examples chosen so that every micro-batch has the estimated shape. The full set of configurations
and their figures: benchmarks/memory_estimate_bench.py, docs/benchmarks.md.
"""

import json
import os
import subprocess
import sys

import pytest

from antrenor import prepare
from antrenor.models.memory import estimate_memory
from tests.conftest import DEMO, read_jsonl, write_jsonl

pytestmark = pytest.mark.integration

TRAIN_AND_REPORT_PEAK = """
import json, resource, sys
from antrenor import train
train(json.loads(sys.argv[1]))
print("PEAK", int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM:')).split()[1]) * 1024)
"""


def peak_rss_of_training(config: dict) -> int:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    child = subprocess.run([sys.executable, "-c", TRAIN_AND_REPORT_PEAK, json.dumps(config)],
                           capture_output=True, text=True, env=env, timeout=300)
    assert child.returncode == 0, child.stderr[-2000:]
    return int(next(line for line in child.stdout.splitlines() if line.startswith("PEAK")).split()[1])


def prepared(folder, rows):
    source = write_jsonl(folder / "rows.jsonl", rows)
    prepare({"input": [str(source)], "output": str(folder / "data"), "split": {"validation": 0, "test": 0},
             "dedup": {"near": False, "exact": False}})
    return folder / "data"


def test_minilm_full_classification_estimate_is_within_25_percent(tmp_path):
    seq_len, batch, steps = 128, 8, 3
    articles = [r for r in read_jsonl(DEMO / "legal-classification" / "articles.jsonl") if len(r["text"]) > 600]
    rows = articles[: batch * steps]  # over 600 characters: over 200 tokens, so every batch is 8 x 128
    data = prepared(tmp_path, rows)
    measured = peak_rss_of_training({
        "data": str(data), "model": "minilm-l6", "task": "classification", "method": "full", "output": str(tmp_path / "out"),
        "max_steps": steps, "batch_size": batch, "effective_batch_size": batch, "max_length": seq_len,
        "save_steps": 10_000, "report_to": []})
    estimate = estimate_memory("minilm-l6", task="classification", method="full", seq_len=seq_len, batch_size=batch,
                               num_labels=len({r["label"] for r in rows}))
    assert estimate.training.total == pytest.approx(measured, rel=0.25)


def test_smollm2_lora_sft_estimate_is_within_25_percent(tmp_path):
    from antrenor.models.registry import load_tokenizer
    from antrenor.training.sft import build_features

    seq_len, steps = 128, 2
    tokenizer = load_tokenizer("smollm2-135m-instruct")
    rows, tokens, labelled = [], 0, 0
    for row in read_jsonl(DEMO / "legal-instructions" / "train.jsonl"):
        features, _ = build_features([row], "instruction", tokenizer, seq_len)
        if features and len(features[0]["input_ids"]) >= 0.9 * seq_len:  # one example of ~seq_len tokens per row
            rows.append(row)
            tokens += len(features[0]["input_ids"])
            labelled += sum(1 for label in features[0]["labels"] if label != -100)
        if len(rows) == steps:
            break
    data = prepared(tmp_path, rows)
    measured = peak_rss_of_training({
        "data": str(data), "model": "smollm2-135m-instruct", "task": "sft", "method": "lora", "output": str(tmp_path / "out"),
        "max_steps": steps, "batch_size": 1, "effective_batch_size": 1, "max_length": seq_len,
        "save_steps": 10_000, "report_to": []})
    estimate = estimate_memory("smollm2-135m-instruct", task="sft", method="lora", seq_len=seq_len, batch_size=1,
                               labelled_share=labelled / tokens)
    assert estimate.training.total == pytest.approx(measured, rel=0.25)
