"""Running exported ONNX models with ONNX Runtime: classifier logits and greedy generation with the cache.

Used by the export checks, the ONNX serving backend and the benchmark, so all three run the
same code. Sessions use every core (intra-op threads = CPU count) and full graph optimization.

    >>> lm = OnnxCausalLM("export/model.onnx")
    >>> lm.generate([[1, 2, 3]], max_new_tokens=8, stop_ids={2})
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def session(path: str | Path, threads: int | None = None) -> Any:
    try:
        import onnxruntime as ort
    except ImportError:
        from antrenor.errors import AntrenorError

        raise AntrenorError("ONNX Runtime is not installed", problems=["pip install 'antrenor[onnx]'"]) from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxClassifier:
    def __init__(self, path: str | Path, threads: int | None = None):
        self.session = session(path, threads)
        self.input_names = [i.name for i in self.session.get_inputs()]

    def logits(self, batch: dict[str, Any]) -> np.ndarray:
        """Logits for a tokenized batch (torch tensors or numpy arrays)."""
        feeds = {name: np.asarray(batch[name], dtype=np.int64) for name in self.input_names}
        return self.session.run(["logits"], feeds)[0]


class OnnxCausalLM:
    def __init__(self, path: str | Path, threads: int | None = None):
        self.session = session(path, threads)
        self.past_inputs = [i for i in self.session.get_inputs() if i.name.startswith("past_key_values.")]
        self.output_names = [o.name for o in self.session.get_outputs()]
        first = self.past_inputs[0].shape  # [batch, kv_heads, past, head_dim]
        self.kv_heads, self.head_dim = int(first[1]), int(first[3])

    def empty_past(self, batch: int) -> list[np.ndarray]:
        return [np.zeros((batch, self.kv_heads, 0, self.head_dim), dtype=np.float32) for _ in self.past_inputs]

    def forward(self, input_ids: np.ndarray, attention_mask: np.ndarray, past: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """(logits, presents) for new tokens `input_ids`; `attention_mask` covers past + new tokens."""
        positions = np.clip(np.cumsum(attention_mask, axis=1) - 1, 0, None)[:, -input_ids.shape[1]:]
        feeds = {"input_ids": input_ids.astype(np.int64), "attention_mask": attention_mask.astype(np.int64),
                 "position_ids": positions.astype(np.int64)}
        feeds |= {i.name: value for i, value in zip(self.past_inputs, past)}
        logits, *presents = self.session.run(self.output_names, feeds)
        return logits, presents

    def generate(self, prompts: list[list[int]], max_new_tokens: int, stop_ids: set[int], pad_id: int = 0,
                 on_token: Callable[[int, int], None] | None = None,
                 choose: Callable[[np.ndarray], np.ndarray] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> list[list[int]]:
        """Continuation of left-padded prompts; each stops at a stop id (not included) or the limit.

        `choose` maps last-position logits (batch x vocab) to next tokens: greedy argmax by default.
        """
        width = max(map(len, prompts))
        ids = np.array([[pad_id] * (width - len(p)) + p for p in prompts], dtype=np.int64)
        mask = np.array([[0] * (width - len(p)) + [1] * len(p) for p in prompts], dtype=np.int64)
        past, answers = self.empty_past(len(prompts)), [[] for _ in prompts]
        done = np.zeros(len(prompts), dtype=bool)
        for _ in range(max_new_tokens):
            logits, past = self.forward(ids, mask, past)
            chosen = choose(logits[:, -1]) if choose else logits[:, -1].argmax(axis=-1)
            for row, token in enumerate(chosen):
                if done[row]:
                    continue
                if int(token) in stop_ids:
                    done[row] = True
                else:
                    answers[row].append(int(token))
                    if on_token:
                        on_token(row, int(token))
            if done.all() or (should_stop and should_stop()):
                break
            ids = chosen[:, None].astype(np.int64)
            mask = np.concatenate([mask, np.ones((len(prompts), 1), dtype=np.int64)], axis=1)
        return answers
