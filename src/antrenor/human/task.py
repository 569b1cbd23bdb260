"""`antrenor human create`: a blind rating task built from `antrenor eval` predictions.

A task folder holds:
    task.json      criteria, Likert anchors, mode, and the items: prompt, reference, answers keyed by opaque
                   system ids (s1, s2, ...). This is all the server ever shows.
    systems.json   which model each system id stands for; read only by `human report`.
    raters.json    rater name -> access token (secret: share each rater's link with that rater only).
    ratings.sqlite created by `human serve` (store.py).

Items are the prompts every chosen model answered. Model identities never reach a page: answers are
labelled A, B, ... and each rater gets their own item order and side order (seeded by task and rater).
"""

from __future__ import annotations

import json
import random
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from antrenor.config import as_config, save_resolved_config
from antrenor.errors import ConfigError, DataError
from antrenor.human.config import HumanCreateConfig

# Labelled Likert anchors, 1..5, in Romanian and English. Criteria without their own get the generic scale.
ANCHORS: dict[str, dict[str, list[str]]] = {
    "correctness": {"ro": ["Complet greșit", "Mai mult greșit", "Parțial corect", "Mai mult corect", "Complet corect"],
                    "en": ["Completely wrong", "Mostly wrong", "Partly correct", "Mostly correct", "Completely correct"]},
    "fluency": {"ro": ["Incomprehensibil", "Greu de urmărit", "Acceptabil", "Fluent", "Perfect natural"],
                "en": ["Incomprehensible", "Hard to follow", "Acceptable", "Fluent", "Perfectly natural"]},
    "register": {"ro": ["Total nepotrivit", "Mai mult nepotrivit", "Neutru", "Mai mult potrivit", "Perfect formal și potrivit"],
                 "en": ["Totally inappropriate", "Mostly inappropriate", "Neutral", "Mostly appropriate",
                        "Perfectly formal and appropriate"]},
    "helpfulness": {"ro": ["Deloc util", "Puțin util", "Oarecum util", "Util", "Foarte util"],
                    "en": ["Not helpful at all", "Slightly helpful", "Somewhat helpful", "Helpful", "Very helpful"]},
}
GENERIC_ANCHORS = {"ro": ["Foarte slab", "Slab", "Acceptabil", "Bun", "Foarte bun"],
                   "en": ["Very poor", "Poor", "Acceptable", "Good", "Very good"]}
CRITERION_NAMES = {"correctness": "Corectitudine", "fluency": "Fluență", "register": "Registru",
                   "helpfulness": "Utilitate"}


@dataclass
class CreatedTask:
    folder: Path
    items: int
    systems: dict[str, str]  # system id -> model label
    raters: dict[str, str]  # rater name -> token


def create_task(predictions: list[str | Path], output: str | Path, *, criteria: list[str] | None = None,
                raters: list[str] | int = 3, side_by_side: bool = False, show_reference: bool = False,
                max_items: int | None = None, models: list[str] | None = None, seed: int = 0,
                title: str = "Evaluare umană") -> CreatedTask:
    """Build a rating task folder from one or more predictions.jsonl files (each may hold several models);
    the options are HumanCreateConfig's, validated the same way (`create_task_from` takes the config itself)."""
    options = {"predictions": [str(p) for p in predictions], "output": str(output), "criteria": criteria,
               "raters": raters, "side_by_side": side_by_side, "show_reference": show_reference, "max_items": max_items,
               "models": models, "seed": seed, "title": title}
    return create_task_from(as_config(HumanCreateConfig, {k: v for k, v in options.items() if v is not None}))


def create_task_from(cfg: HumanCreateConfig) -> CreatedTask:
    """The task folder a HumanCreateConfig describes (see create_task)."""
    predictions, models, seed, side_by_side = cfg.predictions, cfg.models, cfg.seed, cfg.side_by_side
    folder = Path(cfg.output)
    if (folder / "task.json").exists():
        raise ConfigError(f"{folder} already holds a rating task", problems=["choose a new --output folder"])
    answers_by_model = read_predictions(predictions)
    if models:
        unknown = [m for m in models if m not in answers_by_model]
        if unknown:
            raise ConfigError(f"--models {', '.join(unknown)}: not in the predictions",
                              problems=[f"models found: {', '.join(answers_by_model)}"])
        answers_by_model = {m: answers_by_model[m] for m in models}
    if len(answers_by_model) < 1:
        raise DataError("the predictions hold no answers")
    if side_by_side and len(answers_by_model) != 2:
        raise ConfigError(f"side-by-side compares two models, and the predictions hold {len(answers_by_model)}: "
                          f"{', '.join(answers_by_model)}", problems=["pick two with --models A,B"])
    criteria = cfg.criteria
    items = _shared_items(answers_by_model, cfg.max_items, seed)
    rng = random.Random(seed)
    labels = list(answers_by_model)
    rng.shuffle(labels)  # system ids say nothing about file order
    systems = {f"s{i + 1}": label for i, label in enumerate(labels)}
    ids_of = {label: system for system, label in systems.items()}
    rater_tokens = _rater_tokens(cfg.raters)
    task = {
        "version": 1, "title": cfg.title, "seed": seed, "criteria": criteria,
        "criterion_names": {c: CRITERION_NAMES.get(c, c) for c in criteria},
        "anchors": {c: ANCHORS.get(c, GENERIC_ANCHORS) for c in criteria},
        "mode": "side_by_side" if side_by_side else "single", "show_reference": cfg.show_reference,
        "items": [{"id": f"i{n + 1:03d}", "prompt": prompt, "reference": reference,
                   "answers": {ids_of[label]: answer for label, answer in answers.items()}}
                  for n, (prompt, reference, answers) in enumerate(items)],
    }
    folder.mkdir(parents=True, exist_ok=True)
    _write_json(folder / "task.json", task)
    _write_json(folder / "systems.json", systems)
    _write_json(folder / "raters.json", rater_tokens)
    save_resolved_config(cfg, folder / "human_config.yaml")
    return CreatedTask(folder, len(items), systems, rater_tokens)


def read_predictions(paths: list[str | Path]) -> dict[str, dict[str, tuple[str | None, str]]]:
    """model label -> {prompt: (reference, answer)}; a label that two files share gets its folder's name."""
    found: dict[str, dict[str, tuple[str | None, str]]] = {}
    for path in map(Path, paths):
        if path.is_dir():
            path = path / "predictions.jsonl"
        if not path.is_file():
            raise ConfigError(f"{path} does not exist", problems=["give the predictions.jsonl `antrenor eval` wrote"])
        per_file: dict[str, dict[str, tuple[str | None, str]]] = {}
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(f"{path}:{number}: invalid JSON ({error.msg})",
                                problems=["predictions files are written by `antrenor eval`; use one unchanged"]) from None
            missing = [key for key in ("model", "prompt", "prediction") if key not in row]
            if missing:
                raise DataError(f"{path}:{number}: no {', '.join(missing)} field",
                                problems=["rating needs model, prompt and prediction on every line (eval's "
                                          "predictions.jsonl for sft, preference or rl models has them)"])
            prompt = row["prompt"] if isinstance(row["prompt"], str) else json.dumps(row["prompt"], ensure_ascii=False)
            per_file.setdefault(str(row["model"]), {})[prompt] = (row.get("reference"), str(row["prediction"]))
        for label, answers in per_file.items():
            name = label if label not in found else f"{path.parent.name}/{label}"
            found[name] = answers
    return found


def _shared_items(answers_by_model: dict[str, dict[str, tuple[str | None, str]]], max_items: int | None,
                  seed: int) -> list[tuple[str, str | None, dict[str, str]]]:
    """Prompts every model answered, in the first model's order, sampled (seeded) down to max_items."""
    first, *others = answers_by_model.values()
    prompts = [p for p in first if all(p in other for other in others)]
    if not prompts:
        raise DataError("no prompt was answered by every model: were the predictions made on the same split?")
    if max_items and len(prompts) > max_items:
        chosen = set(random.Random(seed).sample(range(len(prompts)), max_items))
        prompts = [p for n, p in enumerate(prompts) if n in chosen]
    return [(p, first[p][0], {label: answers[p][1] for label, answers in answers_by_model.items()}) for p in prompts]


def _rater_tokens(raters: list[str] | int) -> dict[str, str]:
    names = [f"rater{n + 1}" for n in range(raters)] if isinstance(raters, int) else list(raters)
    if not names or len(set(names)) != len(names):
        raise ConfigError("--raters: give a number, or distinct names separated by commas")
    return {name: secrets.token_urlsafe(16) for name in names}


def _write_json(path: Path, data: Any) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    temporary.replace(path)


def load_task(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / "task.json"
    if not path.is_file():
        raise ConfigError(f"{folder} is not a rating task (no task.json)", problems=["create one with `antrenor human create`"])
    return json.loads(path.read_text(encoding="utf-8"))


def read_json(folder: str | Path, name: str) -> dict[str, str]:
    return json.loads((Path(folder) / name).read_text(encoding="utf-8"))
