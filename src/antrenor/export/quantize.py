"""Dynamic int8 quantization of the ONNX model, and what it costs in accuracy on the test split.

ONNX Runtime's dynamic quantization stores MatMul/Gemm weights as int8 and quantizes activations
per batch at run time: no calibration data, a quarter of the weight bytes, and integer matmuls
(VNNI on this CPU). Weights get one scale per output channel: on the demo classifier per-tensor
scales changed 7-9 % of the predictions, per-channel ones 2-3 %. The check scores the test split with PyTorch (fp32), the fp32 ONNX model and
the int8 one: classifiers by accuracy, causal LMs by next-token accuracy on the reference answers
(teacher forcing: the share of answer tokens each model predicts exactly).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from antrenor.models.onnx_runtime import OnnxCausalLM, OnnxClassifier

INT8_FILE = "model.int8.onnx"


def quantize_int8(source: Path, target: Path) -> None:
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    temporary = target.with_suffix(".onnx.partial")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice to pre-process applies to static quantization, not to this
    try:
        quantize_dynamic(str(source), str(temporary), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.setLevel(level)
    temporary.replace(target)


def classifier_accuracy(model: Any, paths: dict[str, Path], batches: list[dict[str, Any]], truth: np.ndarray) -> dict[str, float]:
    """Accuracy (%) of PyTorch and each ONNX file on the same batches (single-label classifiers), and how
    often each ONNX file predicts what PyTorch predicts (`<name>_agreement`): steadier than accuracy on a
    small test split, where one flipped example moves accuracy by a point or more."""
    import torch

    predictions: dict[str, list[np.ndarray]] = {"pytorch": []} | {name: [] for name in paths}
    runners = {name: OnnxClassifier(path) for name, path in paths.items()}
    for batch in batches:
        with torch.inference_mode():
            predictions["pytorch"].append(model(**batch).logits.float().numpy().argmax(-1))
        for name, runner in runners.items():
            predictions[name].append(runner.logits(batch).argmax(-1))
    found = {name: round(100 * float((np.concatenate(rows) == truth).mean()), 2) for name, rows in predictions.items()}
    reference = np.concatenate(predictions["pytorch"])
    return found | {f"{name}_agreement": round(100 * float((np.concatenate(predictions[name]) == reference).mean()), 2)
                    for name in paths}


def next_token_accuracy(model: Any, paths: dict[str, Path], sequences: list[tuple[list[int], int]]) -> dict[str, float]:
    """Next-token accuracy (%) on answer tokens: each sequence is (prompt + answer ids, prompt length)."""
    import torch

    runners = {name: OnnxCausalLM(path) for name, path in paths.items()}
    hits = {"pytorch": 0} | {name: 0 for name in paths}
    total = 0
    for ids, prompt_length in sequences:
        tensor = torch.tensor([ids])
        targets = np.array(ids[prompt_length:])
        with torch.inference_mode():
            logits = model(input_ids=tensor).logits[0].float().numpy()
        hits["pytorch"] += int((logits[prompt_length - 1 : -1].argmax(-1) == targets).sum())
        mask = np.ones((1, len(ids)), dtype=np.int64)
        for name, runner in runners.items():
            onnx_logits, _ = runner.forward(tensor.numpy(), mask, runner.empty_past(1))
            hits[name] += int((onnx_logits[0, prompt_length - 1 : -1].argmax(-1) == targets).sum())
        total += len(targets)
    return {name: round(100 * count / max(total, 1), 2) for name, count in hits.items()} | {"answer_tokens": total}
