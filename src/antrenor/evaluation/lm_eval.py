"""Evaluating continued pre-training (tasks clm and mlm): perplexity on held-out text.

Same shape as `sft_eval.py`. For masked LMs the figure is the perplexity of a seeded 15 % mask
(the same positions for every model, so base and tuned are compared on identical questions).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from antrenor.evaluation.config import EvalConfig
from antrenor.evaluation.forgetting import reference_perplexities, reference_texts
from antrenor.evaluation.metrics import perplexity_metric
from antrenor.models.loading import LoadedModel
from antrenor.models.scoring import text_features, token_losses

MASK_SHARE = 0.15


def masked_token_losses(model: Any, tokenizer: Any, texts: list[str], max_length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    import torch
    import torch.nn.functional as F

    losses, counts = np.zeros(len(texts)), np.zeros(len(texts), dtype=np.int64)
    for index, text in enumerate(texts):
        ids = torch.tensor([tokenizer(text, truncation=True, max_length=max_length)["input_ids"]])
        special = torch.tensor(tokenizer.get_special_tokens_mask(ids[0].tolist(), already_has_special_tokens=True), dtype=torch.bool)
        rng = np.random.default_rng([seed, index])
        chosen = torch.tensor(rng.random(ids.shape[1]) < MASK_SHARE) & ~special
        if not chosen.any():
            continue
        masked = ids.clone()
        masked[0, chosen] = tokenizer.mask_token_id
        with torch.inference_mode():
            logits = model(input_ids=masked).logits[0].float()
        losses[index] = float(F.cross_entropy(logits[chosen], ids[0, chosen], reduction="sum"))
        counts[index] = int(chosen.sum())
    return losses, counts


class LanguageModelEvaluator:
    def __init__(self, task: str, cfg: EvalConfig, progress: Any = None):
        self.task, self.cfg, self.progress = task, cfg, progress

    def _losses(self, loaded: LoadedModel, records: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        texts = [r["text"] for r in records]
        if self.task == "mlm":
            return masked_token_losses(loaded.model, loaded.tokenizer, texts, self.cfg.max_length, self.cfg.seed)
        return token_losses(loaded.model, text_features(texts, loaded.tokenizer, self.cfg.max_length), self.cfg.batch_size,
                            self.progress)

    def score(self, loaded: LoadedModel, records: list[dict[str, Any]]) -> tuple[dict, list[dict[str, Any]], dict]:
        losses, counts = self._losses(loaded, records)
        rows = [{"input": r["text"][:300], "loss": round(float(l / c), 4) if c else None, "tokens": int(c)}
                for r, l, c in zip(records, losses, counts)]
        return {"perplexity": perplexity_metric(losses, counts)}, rows, {}

    def robustness_figures(self, loaded: LoadedModel, records: list[dict[str, Any]]) -> dict[str, float]:
        losses, counts = self._losses(loaded, records)
        return {"perplexity": perplexity_metric(losses, counts)(np.arange(len(records)))}

    def ood_scores(self, loaded: LoadedModel, records: list[dict[str, Any]]) -> dict[str, np.ndarray]:
        losses, counts = self._losses(loaded, records)
        return {"perplexity": np.exp(np.minimum(losses / np.maximum(counts, 1), 50.0))}

    def forgetting_figures(self, loaded: LoadedModel) -> dict[str, float]:
        if self.task == "mlm":
            figures = {}
            for name, lines in reference_texts(self.cfg.forgetting.reference, self.cfg.forgetting.max_lines).items():
                losses, counts = masked_token_losses(loaded.model, loaded.tokenizer, lines, self.cfg.max_length, self.cfg.seed)
                figures[f"perplexity_{name}"] = float(np.exp(min(losses.sum() / max(counts.sum(), 1), 50.0)))
            return figures
        return reference_perplexities(loaded, self.cfg.forgetting, self.cfg.max_length, self.cfg.batch_size)
