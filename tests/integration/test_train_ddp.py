"""The same train command under `accelerate launch` with 2 CPU processes (DDP, gloo) matches one process."""

import json
import os
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_two_process_ddp_matches_single_process(sft_data, tiny_llama_dir, tmp_path):
    accelerate = shutil.which("accelerate", path=os.path.dirname(sys.executable))
    if accelerate is None:
        pytest.skip("accelerate launcher not installed")
    settings = ["--data", str(sft_data), "--model", str(tiny_llama_dir), "--task", "sft", "--method", "full", "--quiet",
                "--set", "max_steps=4", "--set", "batch_size=4", "--set", "effective_batch_size=8", "--set", "lr=1e-3",
                "--set", "eval_steps=4", "--set", "report_to=[]", "--set", "bf16=false", "--set", "packing=false"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single = subprocess.run([sys.executable, "-m", "antrenor", "train", "--output", str(tmp_path / "single"), *settings],
                            capture_output=True, text=True, timeout=300, env=env)
    assert single.returncode == 0, single.stderr[-2000:]
    launched = subprocess.run([accelerate, "launch", "--cpu", "--num_processes", "2", "--num_machines", "1",
                               "--mixed_precision", "no", "--dynamo_backend", "no",
                               "-m", "antrenor", "train", "--output", str(tmp_path / "ddp"), *settings],
                              capture_output=True, text=True, timeout=600, env=env)
    assert launched.returncode == 0, launched.stderr[-3000:]
    one = json.loads((tmp_path / "single" / "manifest.json").read_text())["metrics"]
    two = json.loads((tmp_path / "ddp" / "manifest.json").read_text())["metrics"]
    assert two["eval_loss"] == pytest.approx(one["eval_loss"], rel=1e-4, abs=1e-4)
    assert two["train_loss"] == pytest.approx(one["train_loss"], rel=1e-4, abs=1e-4)
