"""ONNX Runtime against PyTorch on the same inputs: the largest logit difference, and for causal
LMs whether greedy generation through the exported cache gives the same tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from antrenor.export.onnx_export import position_ids_for
from antrenor.models.onnx_runtime import OnnxCausalLM, OnnxClassifier

GENERATED_TOKENS = 8


def classifier_parity(model: Any, path: Path, batches: list[dict[str, Any]]) -> dict[str, Any]:
    import torch

    runner = OnnxClassifier(path)
    worst = 0.0
    for batch in batches:
        with torch.inference_mode():
            expected = model(**batch).logits.float().numpy()
        worst = max(worst, float(np.abs(runner.logits(batch) - expected).max()))
    return {"max_abs_logit_difference": worst, "examples": sum(len(b["input_ids"]) for b in batches)}


def causal_lm_parity(model: Any, path: Path, batches: list[dict[str, Any]], stop_ids: set[int], pad_id: int) -> dict[str, Any]:
    """Prefill logits (real tokens only), one cached decode step, and 8 greedy tokens per prompt."""
    import torch

    runner = OnnxCausalLM(path)
    worst, same, prompts = 0.0, 0, 0
    for batch in batches:
        ids, mask = batch["input_ids"], batch["attention_mask"]
        with torch.inference_mode():
            expected = model(input_ids=ids, attention_mask=mask, position_ids=position_ids_for(mask)).logits.float()
        logits, past = runner.forward(ids.numpy(), mask.numpy(), runner.empty_past(len(ids)))
        worst = max(worst, float((np.abs(logits - expected.numpy()) * mask.numpy()[..., None]).max()))
        step_ids = expected[:, -1].argmax(-1, keepdim=True)
        step_mask = torch.cat([mask, torch.ones_like(step_ids)], dim=1)
        with torch.inference_mode():
            cached = model(input_ids=torch.cat([ids, step_ids], 1), attention_mask=step_mask,
                           position_ids=position_ids_for(step_mask)).logits[:, -1].float().numpy()
        step_logits, _ = runner.forward(step_ids.numpy(), step_mask.numpy(), past)
        worst = max(worst, float(np.abs(step_logits[:, -1] - cached).max()))
        rows = [[int(t) for t, m in zip(r, k) if m] for r, k in zip(ids.tolist(), mask.tolist())]
        onnx_tokens = runner.generate(rows, GENERATED_TOKENS, stop_ids, pad_id)
        torch_tokens = torch_greedy(model, ids, mask, stop_ids, pad_id)
        same += sum(a == b for a, b in zip(onnx_tokens, torch_tokens))
        prompts += len(rows)
    return {"max_abs_logit_difference": worst, "examples": prompts, "same_greedy_tokens": same,
            "greedy_tokens_checked": GENERATED_TOKENS}


def torch_greedy(model: Any, ids: Any, mask: Any, stop_ids: set[int], pad_id: int) -> list[list[int]]:
    import torch

    with torch.inference_mode():
        output = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=GENERATED_TOKENS, do_sample=False,
                                eos_token_id=sorted(stop_ids), pad_token_id=pad_id)
    answers = []
    for row in output[:, ids.shape[1]:].tolist():
        kept = []
        for token in row:
            if token in stop_ids:
                break
            kept.append(token)
        answers.append(kept)
    return answers
