"""benchmarks/gpu_check.py on a machine without CUDA: it skips in one line and exits 0."""

import importlib.util
from pathlib import Path

import pytest
import torch  # imported here, once, so that no test pays for it

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_a_device_it_skips_in_one_line_and_exits_0(gpu_check, capsys):
    if gpu_check.skip_reason() is None:
        pytest.skip("this machine has a CUDA device: the check would run")
    assert gpu_check.main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("gpu_check: skipped: ") and out.count("\n") == 1


def test_a_driver_without_cuda_in_torch_is_a_skip_too(gpu_check, monkeypatch):
    monkeypatch.setattr(gpu_check.Path, "exists", lambda self: True)  # pretend the NVIDIA driver is there
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert "sees no CUDA device" in gpu_check.skip_reason()


def test_card_peaks_and_export_formats_are_read_without_a_device(gpu_check):
    assert gpu_check.peak_flops("NVIDIA H100 80GB HBM3") == (989e12, "H100 80GB HBM3 datasheet, dense bf16")
    assert (gpu_check.peak_flops("NVIDIA H200")[0], gpu_check.peak_flops("NVIDIA A100-SXM4-80GB")[0]) == (989e12, 312e12)
    from typing import get_args

    from antrenor.export.config import ExportConfig

    assert gpu_check.export_formats() == [f for f in ("onnx", "gguf") if f in get_args(ExportConfig.model_fields["format"].annotation)]
