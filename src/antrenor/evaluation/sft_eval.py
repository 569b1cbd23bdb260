"""Evaluating chat/instruction models (task sft): generated answers against references.

Same shape as `classify_eval.py` and `lm_eval.py`: `score` (metrics and predictions on records),
`robustness_figures` (the headline metrics on perturbed records), `ood_scores` (higher = more
out-of-distribution), `forgetting_figures` (general ability).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from antrenor.evaluation.config import EvalConfig
from antrenor.evaluation.forgetting import chat_model_figures
from antrenor.evaluation.kshot import cut_plain_answer, plain_prompt, with_shots
from antrenor.evaluation.metrics import generation_metrics, perplexity_metric, sentence_scores
from antrenor.models.chat import conversation_prompt_ids, prompt_ids, split_conversation
from antrenor.models.generation import generate_answers
from antrenor.models.loading import LoadedModel
from antrenor.models.scoring import answer_features, token_losses

HEADLINE = "rougeL"
ROBUSTNESS_METRICS = ("rougeL", "chrf")


class SftEvaluator:
    def __init__(self, kind: str, cfg: EvalConfig, progress: Any = None):
        self.kind, self.cfg, self.progress = kind, cfg, progress
        self.shots: list[dict[str, str]] = []  # solved examples shown before each prompt (the k-shot baseline)
        self.plain_shots = False  # shots as plain text (base models) rather than chat turns (evaluation/kshot.py)

    def _answers(self, loaded: LoadedModel, records: list[dict[str, Any]]) -> list[str]:
        if self.shots and self.plain_shots:
            prompts = [loaded.tokenizer(plain_prompt(self.shots, split_conversation(r, self.kind)[0]))["input_ids"]
                       for r in records]
            answers = generate_answers(loaded.model, loaded.tokenizer, prompts, self.cfg.max_new_tokens,
                                       self.cfg.batch_size, on_batch=self.progress)
            return [cut_plain_answer(answer) for answer in answers]
        if self.shots:
            prompts = conversation_prompt_ids([with_shots(self.shots, split_conversation(r, self.kind)[0])
                                               for r in records], loaded.tokenizer)
        else:
            prompts = prompt_ids(records, self.kind, loaded.tokenizer)
        return generate_answers(loaded.model, loaded.tokenizer, prompts, self.cfg.max_new_tokens, self.cfg.batch_size,
                                on_batch=self.progress)

    def score(self, loaded: LoadedModel, records: list[dict[str, Any]]) -> tuple[dict, list[dict[str, Any]], dict]:
        """(metric functions, prediction rows, details) for `records`."""
        answers = self._answers(loaded, records)
        conversations = [split_conversation(r, self.kind) for r in records]
        references = [reference for _, reference in conversations]
        metrics = generation_metrics(answers, references)
        if self.shots:  # the answer perplexity is the zero-shot base's, already scored: not repeated, not relabelled
            losses, counts = np.zeros(len(records)), np.zeros(len(records), dtype=np.int64)
        else:
            losses, counts = self._answer_losses(loaded, records)
            metrics["answer_perplexity"] = perplexity_metric(losses, counts)
        per_example = sentence_scores(answers, references)
        rows = [{"prompt": prompt[-1]["content"] if prompt else "", "reference": reference, "prediction": answer,
                 "rougeL": round(float(score), 2), "answer_loss": round(float(loss / count), 4) if count else None}
                for (prompt, reference), answer, score, loss, count in zip(conversations, answers, per_example, losses, counts)]
        return metrics, rows, {}

    def _answer_losses(self, loaded: LoadedModel, records: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        features = answer_features(records, self.kind, loaded.tokenizer, self.cfg.max_length)
        return token_losses(loaded.model, features, self.cfg.batch_size)

    def robustness_figures(self, loaded: LoadedModel, records: list[dict[str, Any]]) -> dict[str, float]:
        answers = self._answers(loaded, records)
        references = [split_conversation(r, self.kind)[1] for r in records]
        metrics = generation_metrics(answers, references)
        everything = np.arange(len(records))
        return {name: metrics[name](everything) for name in ROBUSTNESS_METRICS}

    def ood_scores(self, loaded: LoadedModel, records: list[dict[str, Any]]) -> dict[str, np.ndarray]:
        """Per-example answer perplexity: a model is more perplexed by what it was not tuned for."""
        losses, counts = self._answer_losses(loaded, records)
        return {"perplexity": np.exp(np.minimum(losses / np.maximum(counts, 1), 50.0))}

    def forgetting_figures(self, loaded: LoadedModel) -> dict[str, float]:
        return chat_model_figures(loaded, self.cfg)
