"""The written GGUF file against the merged model, read back with transformers' GGUF reader.

transformers dequantizes the file into a regular PyTorch model (config from the GGUF metadata, tokenizer
from its `tokenizer.ggml.*` keys), so the check covers what llama.cpp reads too: tensor names and layout
(the q/k permutation, Gemma's norm offset), the hyperparameters, the vocabulary and merges, the special
ids and the chat template. Compared on the same left-padded prompts as the ONNX check: the largest logit
difference over real tokens (as a share of the largest |logit|, since quantization error scales with the
weights), 8 greedy tokens per prompt, and the token ids of Romanian probe sentences.

Measured (largest |logit difference| / max(1, largest |logit|); benchmarks/gguf_bench.py, docs/gguf.md):
the six tiny random architectures of the tests: f16 below 1e-3, q8_0 below 3e-2, q4_0 below 0.3;
Gemma 3 270M: f16 0 (its bf16 weights are exact in f16), q8_0 0.013 with 8/8 greedy answers equal;
SmolLM2 135M: f16 0, q8_0 0.047 (4/8 greedy answers equal), q4_0 0.63 (2/8). The default tolerances sit
above those: for f16 the check is tight, for q8_0 it bounds the usual quantization error, and for the 4-
and 5-bit types it only catches a broken file (a wrong layout or tokenizer), not quality loss.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from antrenor.export.merge import logit_scale, logits_of, max_logit_difference
from antrenor.export.parity import GENERATED_TOKENS, torch_greedy

# Share of the largest |logit| a reloaded file may differ by, per GGUF type
GGUF_TOLERANCE = {"f32": 1e-4, "f16": 5e-3, "bf16": 3e-2, "q8_0": 8e-2, "q5_1": 0.5, "q5_0": 0.5, "q4_1": 0.8,
                  "q4_0": 0.8}
ROMANIAN_PROBES = (
    "Câinele se joacă în parc.",
    "Șase oameni salvați după răsturnarea unei bărci în Golful Dublin",
    "Contractul se încheie prin acordul de voință al părților, la 14 martie 2024.",
    "Ți-am spus: întâlnirea e mâine la ora 9, în sala „Aula Magna”!",
)


def gguf_parity(model: Any, tokenizer: Any, path: Path, batches: list[dict[str, Any]], stop_ids: set[int],
                pad_id: int) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    reloaded = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32).eval()
    expected = logits_of(model, batches)
    difference = max_logit_difference(expected, logits_of(reloaded, batches), batches)
    scale = logit_scale(expected)
    same_tokens, same_answers, prompts = 0, 0, 0
    for batch in batches:
        ids, mask = batch["input_ids"], batch["attention_mask"]
        want = torch_greedy(model, ids, mask, stop_ids, pad_id)
        got = torch_greedy(reloaded, ids, mask, stop_ids, pad_id)
        same_answers += sum(a == b for a, b in zip(want, got))
        same_tokens += sum(_common_prefix(a, b) for a, b in zip(want, got))
        prompts += len(want)
    read_tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    differing = [text for text in ROMANIAN_PROBES
                 if tokenizer(text)["input_ids"] != read_tokenizer(text)["input_ids"]]
    return {"reader": "transformers", "max_abs_logit_difference": difference, "logit_scale": scale,
            "relative_difference": difference / scale, "examples": prompts, "same_greedy_answers": same_answers,
            "same_greedy_prefix_tokens": same_tokens, "greedy_tokens_checked": GENERATED_TOKENS,
            "tokenizer_probes": len(ROMANIAN_PROBES), "tokenizer_probes_differing": differing,
            "chat_template_equal": read_tokenizer.chat_template == tokenizer.chat_template,
            "eos_equal": read_tokenizer.eos_token == tokenizer.eos_token}


def _common_prefix(a: list[int], b: list[int]) -> int:
    count = 0
    for x, y in zip(a, b):
        if x != y:
            break
        count += 1
    return count
