"""Forgetting: general ability before vs after fine-tuning, on text the tuning never saw.

- Causal LMs: perplexity on general Romanian and English sentences (shipped in
  antrenor/resources, RO-STS and SiMoNERo; or the user's files), and for chat models a few
  general questions with known answers (a probe passes when an accepted answer appears).
- Encoders (classification): Spearman correlation between the cosine similarity of mean-pooled
  sentence embeddings and human similarity scores on RO-STS pairs. Fine-tuning a classifier
  reshapes the encoder; this shows how much of its general sentence sense survived.

`compare_forgetting` turns base and tuned figures into % changes, flagged above a threshold.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from antrenor.errors import ConfigError
from antrenor.evaluation.config import EvalConfig
from antrenor.models.scoring import mean_pooled_embeddings, text_features, token_losses
from antrenor.records.bundled import general_probes

DEFAULT_REFERENCES = ("general_ro.txt", "general_en.txt")
HIGHER_IS_WORSE = ("perplexity",)


def reference_texts(files: list[str] | None, max_lines: int) -> dict[str, list[str]]:
    texts = {}
    if files is None:
        for name in DEFAULT_REFERENCES:
            content = resources.files("antrenor.resources").joinpath(name).read_text(encoding="utf-8")
            texts[Path(name).stem] = [line for line in content.splitlines() if line.strip()][:max_lines]
        return texts
    for file in files:
        path = Path(file)
        if not path.is_file():
            raise ConfigError(f"forgetting reference {file} does not exist", problems=["give a text file, one sample a line"])
        texts[path.stem] = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()][:max_lines]
    return texts


def reference_perplexities(loaded: Any, cfg: EvalConfig, max_length: int, batch_size: int) -> dict[str, float]:
    """Perplexity on each reference file: {"perplexity_general_ro": ..., ...}."""
    figures = {}
    for name, lines in reference_texts(cfg.reference, cfg.max_lines).items():
        losses, counts = token_losses(loaded.model, text_features(lines, loaded.tokenizer, max_length), batch_size)
        figures[f"perplexity_{name}"] = float(np.exp(min(losses.sum() / max(counts.sum(), 1), 50.0)))
    return figures


def chat_model_figures(loaded: Any, cfg: EvalConfig) -> dict[str, float]:
    """A chat model's general ability: perplexity on each reference file and, if configured, the general probes."""
    figures = reference_perplexities(loaded, cfg.forgetting, cfg.max_length, cfg.batch_size)
    if cfg.forgetting.probes:
        figures["general_probes_accuracy"] = general_probe_accuracy(loaded, cfg.batch_size)
    return figures


def general_probe_accuracy(loaded: Any, batch_size: int) -> float:
    """% of general questions answered with an accepted answer (greedy, 24 new tokens)."""
    from antrenor.models.chat import prompt_ids
    from antrenor.models.generation import generate_answers

    probes = general_probes()
    records = [{"messages": [{"role": "user", "content": p["question"]}]} for p in probes]
    answers = generate_answers(loaded.model, loaded.tokenizer, prompt_ids(records, "chat", loaded.tokenizer),
                               max_new_tokens=24, batch_size=batch_size)
    passed = [any(accepted in answer.casefold() for accepted in p["answers"]) for p, answer in zip(probes, answers)]
    return 100.0 * sum(passed) / len(passed)


def sts_spearman(loaded: Any, batch_size: int = 32) -> float:
    """Spearman x 100 between embedding cosine similarity and RO-STS gold scores."""
    from scipy.stats import spearmanr

    content = resources.files("antrenor.resources").joinpath("sts_ro.jsonl").read_text(encoding="utf-8")
    pairs = [json.loads(line) for line in content.splitlines() if line.strip()]
    a = mean_pooled_embeddings(loaded.model, loaded.tokenizer, [p["text_a"] for p in pairs], batch_size=batch_size)
    b = mean_pooled_embeddings(loaded.model, loaded.tokenizer, [p["text_b"] for p in pairs], batch_size=batch_size)
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
    return float(spearmanr(cosine, [p["score"] for p in pairs])[0] * 100)


def compare_forgetting(base: dict[str, float], tuned: dict[str, float], threshold: float) -> dict[str, dict[str, Any]]:
    """Per figure: base, tuned, % change, and whether it worsened by more than `threshold`."""
    comparison = {}
    for name, before in base.items():
        if name not in tuned or not before:
            continue
        after = tuned[name]
        change = (after - before) / abs(before)
        worse = change if any(key in name for key in HIGHER_IS_WORSE) else -change
        comparison[name] = {"base": before, "tuned": after, "change_percent": round(100 * change, 2),
                            "forgetting": bool(worse > threshold)}
    return comparison
