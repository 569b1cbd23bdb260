"""The search space against the train config: which keys can be searched, what each trial trains with.

Every problem is found before any model loads: keys that are not train keys (with a "did you mean"),
ranges on keys that are not numbers, fractions on whole-number keys, and values that would make a
trial's train config invalid (each choice, each end of a range, and every value of a short
whole-number range, in combination with the other keys' values).
"""

from __future__ import annotations

import copy
import difflib
import itertools
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from antrenor.config import format_validation_errors, model_class_at
from antrenor.tuning.config import ParamRange

NOT_SEARCHABLE = {"output": "tune sets each trial's output (<tune output>/trial-<n>)",
                  "resume": "tune resumes a study, not a single run"}
MOST_COMBINATIONS = 4096  # beyond this, each key's values are checked one key at a time


def searchable_keys() -> dict[str, Any]:
    """Every leaf key of TrainConfig, dotted, with its type annotation."""
    from antrenor.training.config import TrainConfig

    keys: dict[str, Any] = {}

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            section = model_class_at(field.annotation)
            if section is not None:
                walk(section, f"{prefix}{name}.")
            else:
                keys[prefix + name] = field.annotation
    walk(TrainConfig, "")
    return keys


def kind_of(annotation: Any) -> str:
    """int, float, bool or other: what a range on this key must be made of."""
    options = {a for a in typing.get_args(annotation) if a is not type(None)} or {annotation}
    if options == {int}:
        return "int"
    if options <= {int, float}:
        return "float"
    if options == {bool}:
        return "bool"
    return "other"


def check_space(space: dict[str, ParamRange], train: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(problems, doubts) of a search space for the given train section (its raw YAML mapping)."""
    from antrenor.training.config import TrainConfig

    keys = searchable_keys()
    problems = check_space_keys(list(space))
    problems += [problem for key, spec in space.items() if key in keys and key not in NOT_SEARCHABLE
                 for problem in _check_values(f"tune: space.{key}", key, kind_of(keys[key]), spec)]
    if problems:
        return problems, []
    problems = _check_trial_configs(space, train, TrainConfig)
    doubts = []
    if "epochs" in space and train.get("max_steps") is not None:
        doubts.append("the space searches epochs, but train.max_steps is set and overrides epochs: "
                      "epochs will change nothing; remove max_steps or search it instead")
    return problems, doubts


def check_space_keys(names: list[str]) -> list[str]:
    """Space keys that are not searchable train keys, with a "did you mean"."""
    keys = searchable_keys()
    sections = {key.split(".")[0] for key in keys if "." in key}
    problems = []
    for name in names:
        where = f"tune: space.{name}"
        if name in sections:
            examples = ", ".join(k for k in keys if k.startswith(name + "."))
            problems.append(f"{where}: {name} is a section; search its keys instead ({examples})")
        elif name not in keys:
            close = difflib.get_close_matches(str(name), list(keys), n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(f"{where}: '{name}' is not a train key{hint}")
        elif name in NOT_SEARCHABLE:
            problems.append(f"{where}: {name} cannot be searched: {NOT_SEARCHABLE[name]}")
    return problems


def _check_values(where: str, key: str, kind: str, spec: ParamRange) -> list[str]:
    if spec.choices is not None:
        return []  # their types are checked with the trial configs
    if kind == "other" or kind == "bool":
        return [f"{where}: {key} is not a number; give choices: [...] instead of a range"]
    if kind == "int":
        fractional = [f"{name} {value}" for name, value in (("low", spec.low), ("high", spec.high), ("step", spec.step))
                      if value is not None and not float(value).is_integer()]
        if fractional:
            return [f"{where}: {key} takes whole numbers; {', '.join(fractional)} is not one"]
    return []


def _check_trial_configs(space: dict[str, ParamRange], train: dict[str, Any], train_class: type[BaseModel]) -> list[str]:
    """Validate the train configs the search can produce; one message per distinct problem."""
    keys = searchable_keys()
    values = {key: spec.candidate_values(kind_of(keys[key]) == "int") for key, spec in space.items()}
    total = 1
    for options in values.values():
        total *= len(options)
    if total <= MOST_COMBINATIONS:
        combinations = [dict(zip(values, combo)) for combo in itertools.product(*values.values())]
    else:
        combinations = [{key: value} for key, options in values.items() for value in options]
    seen: dict[str, str] = {}
    for combo in combinations:
        try:
            train_class.model_validate(apply_values(train, combo))
        except ValidationError as exc:
            shown = ", ".join(f"{k}={v}" for k, v in combo.items())
            for message in format_validation_errors(exc, train_class):
                seen.setdefault(message, shown)
    return [f"tune: space: a trial with {shown} would not train: {message}" for message, shown in seen.items()]


def apply_values(train: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A copy of the train mapping with dotted keys set to the given values."""
    result = copy.deepcopy(train)
    for key, value in values.items():
        *parents, leaf = key.split(".")
        node = result
        for part in parents:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[leaf] = value
    return result


def suggest(trial: Any, space: dict[str, ParamRange]) -> dict[str, Any]:
    """The trial's values, asked of optuna in the space's order."""
    keys = searchable_keys()
    values = {}
    for key, spec in space.items():
        if spec.choices is not None:
            values[key] = trial.suggest_categorical(key, spec.choices)
        elif kind_of(keys[key]) == "int":
            values[key] = trial.suggest_int(key, int(spec.low), int(spec.high), step=int(spec.step or 1), log=spec.log)
        else:
            values[key] = trial.suggest_float(key, float(spec.low), float(spec.high), step=spec.step, log=spec.log)
    return values

