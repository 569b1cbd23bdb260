"""Experiment trackers in their offline modes: W&B writes a local run, MLflow a local store, with our figures."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from antrenor import train

FAST = {"task": "sft", "method": "lora", "max_steps": 4, "batch_size": 4, "effective_batch_size": 4, "lr": 5e-3,
        "bf16": False, "eval_steps": 2, "lora": {"r": 4, "alpha": 8}}


def test_wandb_offline_run_holds_the_training_figures(sft_data, tiny_llama_dir, tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_PROJECT", "antrenor-test")
    monkeypatch.setenv("WANDB_SILENT", "true")
    train({"data": str(sft_data), "model": str(tiny_llama_dir), "output": str(tmp_path / "out"),
           "report_to": ["wandb"], **FAST})
    runs = list((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1, "one offline run, to be synced later with `wandb sync`"
    records = list(wandb_records(runs[0]))
    history = [{item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in r.history.item}
               for r in records if r.WhichOneof("record_type") == "history"]
    logged = [json.loads(line) for line in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    evals = [row["eval_loss"] for row in logged if "eval_loss" in row]
    assert [row["eval/loss"] for row in history if "eval/loss" in row] == pytest.approx(evals)
    assert len(evals) == 2  # steps 2 and 4; the final figures are step 4's (the model kept), not a second pass
    assert max(row.get("train/global_step", 0) for row in history) == 4
    assert records[-1].WhichOneof("record_type") == "exit" and records[-1].exit.exit_code == 0
    assert wandb.run is None  # finished, so a later run in the same process starts clean


def wandb_records(path: Path):
    """The records of W&B's transaction log (run-*.wandb; wandb 0.31 ships no Python reader): a 7-byte header,
    then LevelDB-log blocks of 32 KB whose chunks carry crc32 (4 bytes), length (2) and type (1 full, 2 first,
    3 middle, 4 last); each whole record is a protobuf `Record`."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    position, block, pending = 7, 32768, b""
    while position + 7 <= len(data):
        if block - position % block < 7:  # a block's tail too short for a chunk header is padding
            position += block - position % block
            continue
        _, length, kind = struct.unpack("<IHB", data[position : position + 7])
        if kind == 0 and length == 0:
            break
        pending += data[position + 7 : position + 7 + length]
        position += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


def test_mlflow_local_store_holds_the_training_figures(sft_data, tiny_llama_dir, tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"  # MLflow's local store (its file store is deprecated)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "antrenor-test")
    train({"data": str(sft_data), "model": str(tiny_llama_dir), "output": str(tmp_path / "out"),
           "report_to": ["mlflow"], **FAST})
    client = mlflow.tracking.MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name("antrenor-test")
    (run,) = client.search_runs([experiment.experiment_id])
    logged = [json.loads(line) for line in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    evals = [row["eval_loss"] for row in logged if "eval_loss" in row]
    history = [m.value for m in client.get_metric_history(run.info.run_id, "eval_loss")]
    assert history == pytest.approx(evals)
    assert run.data.params["learning_rate"] == "0.005"
    assert mlflow.active_run() is None
