"""Ctrl-C during `antrenor train` leaves a consistent checkpoint, and --resume finishes the run."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.integration


def test_sigint_saves_a_checkpoint_and_resume_completes(sft_data, tiny_llama_dir, tmp_path):
    output = tmp_path / "out"
    command = [sys.executable, "-m", "antrenor", "train", "--data", str(sft_data), "--model", str(tiny_llama_dir),
               "--task", "sft", "--method", "lora", "--output", str(output), "--quiet",
               "--set", "max_steps=400", "--set", "batch_size=4", "--set", "effective_batch_size=4",
               "--set", "eval_steps=1000", "--set", "save_steps=1000", "--set", "report_to=[]", "--set", "bf16=false"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    metrics = output / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (metrics.exists() and len(metrics.read_text().splitlines()) >= 2):
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "continue with --resume" in err
    (checkpoint,) = list((output / "checkpoints").glob("checkpoint-*"))
    stopped_at = int(checkpoint.name.split("-")[1])
    assert 0 < stopped_at < 400
    assert (checkpoint / "antrenor_complete.json").exists()
    manifest = json.loads((output / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"

    finished = subprocess.run(command + ["--resume", "--set", "max_steps=" + str(stopped_at + 3)],
                              capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    manifest = json.loads((output / "manifest.json").read_text())
    assert manifest["status"] == "completed"
    # it went on from the interrupted step: 3 more steps, not a restart from step 0
    assert (manifest["metrics"]["started_at_step"], manifest["metrics"]["steps_run"]) == (stopped_at, 3)
    assert (output / "adapter_model.safetensors").exists()
