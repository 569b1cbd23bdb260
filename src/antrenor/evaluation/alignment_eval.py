"""Evaluating aligned models: reward models (task reward) and LMs tuned on preferences or rewards (tasks
preference and rl, the latter GRPO).

Same shape as `sft_eval.py` (`score`, `robustness_figures`, `forgetting_figures`), plus `suites`: the suites
that mean something for the task (an OOD set of pairs has no score to tell it apart by, so ood is left out).

- An aligned LM, on held-out preference pairs: log p(chosen) - log p(rejected) after the prompt (its mean,
  and the share of pairs where chosen is the likelier); on every prompt: a greedy answer. Answers are
  scored afterwards by one reward model, the judge (`judge_answers`), once every model has answered, so
  only one model is in memory at a time and every answer meets the same judge.
- A reward model: how often it scores the held-out chosen answer above the rejected one, and by how much.
"""

from __future__ import annotations

import gc
import time
from typing import Any

import numpy as np

from antrenor.console import Reporter
from antrenor.evaluation.config import EvalConfig
from antrenor.evaluation.forgetting import chat_model_figures
from antrenor.models.chat import conversation_prompt_ids, split_conversation
from antrenor.models.generation import generate_answers
from antrenor.models.loading import LoadedModel, load_judge
from antrenor.models.pair_scoring import pair_log_probs, pair_rewards, reward_scores
from antrenor.records.kinds import conversational
from antrenor.reporting.stats import bootstrap_ci

PROMPT_KINDS = ("preference", "feedback", "instruction", "chat", "completion")  # data with prompts to answer


def prompt_and_reference(record: dict[str, Any], kind: str) -> tuple[list[dict[str, str]], str]:
    """The conversation to answer, and the data's own (preferred) answer to it, "" when it has none."""
    if kind == "preference":
        row = conversational([record], kind, None)[0]
        return row["prompt"], row["chosen"][-1]["content"]
    if kind == "feedback":
        row = conversational([record], kind, None)[0]
        return row["prompt"], row["completion"][-1]["content"] if row["label"] else ""
    return split_conversation(record, kind)


def _shown(messages: list[dict[str, str]]) -> str:
    """What a report shows of a prompt: its last user turn."""
    return next((m["content"] for m in reversed(messages) if m["role"] == "user"), messages[-1]["content"] if messages else "")


def margin_metrics(margins: np.ndarray) -> dict[str, Any]:
    return {"margin": lambda idx: float(margins[idx].mean()),
            "chosen_over_rejected": lambda idx: float((margins[idx] > 0).mean())}


class AlignedModelEvaluator:
    """Tasks preference and rl: margins on held-out pairs (preference data), greedy answers to every prompt."""

    def __init__(self, kind: str, cfg: EvalConfig, progress: Any = None):
        self.kind, self.cfg, self.progress = kind, cfg, progress
        self.has_pairs = kind == "preference"
        # robustness: the margins again with typos etc. in the prompts; without pairs there is no figure to perturb
        self.suites = {"metrics", "forgetting"} | ({"robustness"} if self.has_pairs else set())

    def score(self, loaded: LoadedModel, records: list[dict[str, Any]]) -> tuple[dict, list[dict[str, Any]], dict]:
        conversations = [prompt_and_reference(r, self.kind) for r in records]
        rows: list[dict[str, Any]] = [{"prompt": _shown(prompt), "reference": reference} for prompt, reference in conversations]
        metrics: dict[str, Any] = {}
        if self.has_pairs:
            chosen, rejected = pair_log_probs(loaded.model, loaded.tokenizer, records, self.cfg.batch_size, self.cfg.max_length)
            margins = np.array(chosen) - np.array(rejected)
            metrics = margin_metrics(margins)
            for row, c, r, m in zip(rows, chosen, rejected, margins):
                row.update({"logp_chosen": c, "logp_rejected": r, "margin": float(m)})
        prompts = conversation_prompt_ids([prompt for prompt, _ in conversations], loaded.tokenizer)
        answers = generate_answers(loaded.model, loaded.tokenizer, prompts, self.cfg.max_new_tokens, self.cfg.batch_size,
                                   on_batch=self.progress)
        words = [len(answer.split()) for answer in answers]
        for row, answer, count in zip(rows, answers, words):
            row.update({"prediction": answer, "answer_words": count})
        details = {"answers": len(answers), "mean_answer_words": float(np.mean(words)) if words else None,
                   "empty_answers": sum(1 for answer in answers if not answer)}
        return metrics, rows, details

    def robustness_figures(self, loaded: LoadedModel, records: list[dict[str, Any]]) -> dict[str, float]:
        chosen, rejected = pair_log_probs(loaded.model, loaded.tokenizer, records, self.cfg.batch_size, self.cfg.max_length)
        margins = np.array(chosen) - np.array(rejected)
        everything = np.arange(len(records))
        return {name: fn(everything) for name, fn in margin_metrics(margins).items()}

    def forgetting_figures(self, loaded: LoadedModel) -> dict[str, float]:
        return chat_model_figures(loaded, self.cfg)


class RewardModelEvaluator:
    """Task reward: pairwise accuracy (chosen scored above rejected; a tie counts as wrong) and the mean reward gap."""

    suites = {"metrics"}  # no general-ability figure for a reward head, and no untrained base to compare it with

    def __init__(self, cfg: EvalConfig, progress: Any = None):
        self.cfg, self.progress = cfg, progress

    def score(self, loaded: LoadedModel, records: list[dict[str, Any]]) -> tuple[dict, list[dict[str, Any]], dict]:
        chosen, rejected = pair_rewards(loaded.model, loaded.tokenizer, records, self.cfg.batch_size, self.cfg.max_length)
        gaps = np.array(chosen) - np.array(rejected)
        metrics = {"pairwise_accuracy": lambda idx: float((gaps[idx] > 0).mean()),
                   "reward_gap": lambda idx: float(gaps[idx].mean())}
        rows = [{"prompt": _shown(pair["prompt"]), "chosen": pair["chosen"][-1]["content"],
                 "rejected": pair["rejected"][-1]["content"], "reward_chosen": c, "reward_rejected": r,
                 "ranked_correctly": bool(c > r)}
                for pair, c, r in zip(conversational(records, "preference", None), chosen, rejected)]
        if self.progress:
            self.progress(len(records))
        return metrics, rows, {"mean_reward": float(np.mean(chosen + rejected)) if records else None}


def judge_answers(results: dict[str, dict[str, Any]], records: list[dict[str, Any]], kind: str, cfg: EvalConfig,
                  reporter: Reporter) -> dict[str, Any]:
    """Score every model's answers with the judge; add `reward` to each model's rows and metrics.

    Each distinct (prompt, answer) is scored once, so two models that gave the same answer get the same
    reward: a tie, never a win decided by batching noise. On preference data the judge also ranks the
    held-out pairs: its agreement with the data says how far its verdicts can be trusted.
    """
    started = time.perf_counter()
    judge = load_judge(cfg.judge, trust_remote_code=cfg.trust_remote_code, allow_pickle=cfg.allow_pickle)
    prompts = [prompt_and_reference(r, kind)[0] for r in records]
    distinct: dict[tuple[int, str], int] = {}
    for result in results.values():
        for index, row in enumerate(result["predictions"]):
            distinct.setdefault((index, row["prediction"]), len(distinct))
    keys = list(distinct)
    with reporter.progress(f"judge: scoring {len(keys)} distinct answers", total=len(keys)) as bar:
        scores = reward_scores(judge.model, judge.tokenizer, [prompts[i] for i, _ in keys],
                               [[{"role": "assistant", "content": answer}] for _, answer in keys],
                               cfg.batch_size, cfg.max_length, on_batch=bar.advance)
    for result in results.values():
        rewards = np.array([scores[distinct[(i, row["prediction"])]] for i, row in enumerate(result["predictions"])])
        for row, reward in zip(result["predictions"], rewards):
            row["reward"] = float(reward)
        result["_metric_fns"]["reward"] = lambda idx, rewards=rewards: float(rewards[idx].mean())
        result["metrics"]["reward"] = float(rewards.mean())
    summary: dict[str, Any] = {"source": cfg.judge, "answers_scored": len(keys)}
    if kind == "preference":
        chosen, rejected = pair_rewards(judge.model, judge.tokenizer, records, cfg.batch_size, cfg.max_length)
        agrees = np.array(chosen) > np.array(rejected)
        low, high = bootstrap_ci(lambda idx: float(agrees[idx].mean()), len(agrees), cfg.bootstrap_samples, cfg.seed)
        summary["pairwise_accuracy"] = {"value": float(agrees.mean()), "ci95": [low, high], "pairs": len(agrees)}
    summary["seconds"] = round(time.perf_counter() - started, 1)
    del judge
    gc.collect()
    return summary
