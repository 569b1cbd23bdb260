"""Typed stage configs and how they are loaded.

Precedence, lowest first: the model's defaults < a YAML file (`--config FILE`; either the
stage's own keys or a pipeline YAML with a section named after the stage) < `--set key=value`
overrides (dotted keys for nested values) < explicit command-line flags.

Every problem is collected and reported at once, with a "did you mean" for unknown keys,
before any heavy work starts.

Example:
    >>> from antrenor.data.config import PrepareConfig
    >>> cfg = load_config(PrepareConfig, overrides=["seed=7"], flags={"input": ["a.jsonl"], "output": "out"})
    >>> cfg.seed
    7
"""

from __future__ import annotations

import difflib
import os
import typing
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from antrenor.errors import ConfigError

C = TypeVar("C", bound="StageConfig")


class StrictModel(BaseModel):
    """A config section: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class StageConfig(StrictModel):
    """The config of one stage (prepare, train, ...)."""

    stage: ClassVar[str] = ""

    def doubts(self) -> list[str]:
        """Supported but doubtful settings, each with why. Subclasses add theirs."""
        return []


def load_config(
    cls: type[C],
    config_file: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    flags: dict[str, Any] | None = None,
) -> C:
    """Build and validate a stage config from all sources; raise ConfigError listing every problem."""
    merged = merged_keys(cls, config_file, overrides, flags)
    try:
        return cls.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(
            f"the {cls.stage or 'stage'} configuration has {exc.error_count()} problem(s):",
            problems=format_validation_errors(exc, cls),
        ) from None


def merged_keys(cls: type[C], config_file: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
                flags: dict[str, Any] | None = None) -> dict[str, Any]:
    """The stage's keys from the YAML section, then `--set` overrides, then flags, before validation."""
    problems: list[str] = []
    merged: dict[str, Any] = {}
    if config_file is not None:
        merged = read_yaml_section(Path(config_file), cls.stage, problems)
    for item in overrides:
        parsed = parse_override(item, problems)
        if parsed is not None:
            deep_merge(merged, parsed)
    for key, value in (flags or {}).items():
        if value is not None:
            deep_merge(merged, _nest(key.split("."), value))
    if problems:
        raise ConfigError("the configuration has problems:", problems=problems)
    return merged


def as_config(cls: type[C], config: "C | dict[str, Any] | str | Path") -> C:
    """Accept a ready config, a dict of its keys, or a YAML path: what the library functions take."""
    if isinstance(config, cls):
        return config
    if isinstance(config, dict):
        return load_config(cls, flags=config)
    return load_config(cls, config_file=config)


def save_resolved_config(config: StageConfig, path: Path) -> None:
    """Write the fully resolved config beside an output, so a run can be repeated exactly."""
    data = {config.stage: config.model_dump(mode="json")} if config.stage else config.model_dump(mode="json")
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")  # renamed into place: never half a config
    partial.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    os.replace(partial, path)


def format_validation_errors(exc: ValidationError, cls: type[BaseModel]) -> list[str]:
    messages = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        key = ".".join(loc) or "(top level)"
        if error["type"] == "extra_forbidden":
            known = _field_names_at(cls, loc[:-1])
            close = difflib.get_close_matches(loc[-1], known, n=1, cutoff=0.6)
            hint = f" (did you mean '{'.'.join(loc[:-1] + [close[0]])}'?)" if close else ""
            messages.append(f"unknown key '{key}'{hint}; known keys here: {', '.join(sorted(known))}")
        else:
            got = error.get("input")
            shown = "" if isinstance(got, dict) else f" (got {got!r})"
            messages.append(f"{key}: {error['msg']}{shown}")
    return messages


def describe_fields(cls: type[BaseModel], prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(key, type, default, description) for every field, nested sections flattened with dots.

    The CLI's --help and docs/config.md are both generated from this, so they cannot drift.
    """
    rows = []
    for name, field in cls.model_fields.items():
        key = prefix + name
        nested = model_class_at(field.annotation)
        if nested is not None:
            rows.append((key, "section", "", field.description or ""))
            rows.extend(describe_fields(nested, key + "."))
            continue
        variants = _tagged_item_classes(field.annotation)
        if variants:  # a list of tagged items, e.g. rl.rewards: one block of keys per `type`
            rows.append((key, "section", "", f"{field.description or ''} A list; each item has a `type`:"))
            for tag, variant in variants:
                first_line = (variant.__doc__ or "").strip().splitlines()[0] if variant.__doc__ else ""
                rows.append((f"{key}[type: {tag}]", "section", "", first_line))
                rows.extend(row for row in describe_fields(variant, f"{key}[{tag}].") if not row[0].endswith(".type"))
            continue
        default = "required" if field.is_required() else repr(field.get_default(call_default_factory=True))
        rows.append((key, _type_name(field.annotation), default, field.description or ""))
    return rows


def read_yaml_section(path: Path, stage: str, problems: list[str]) -> dict[str, Any]:
    """A YAML file's `stage` section (or the whole file when it has none); problems are appended, not raised."""
    if not path.is_file():
        problems.append(f"config file {path} does not exist")
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problems.append(f"{where}: invalid YAML: {exc.problem}")
        return {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        problems.append(f"{path}: cannot read YAML: {exc}")
        return {}
    if not isinstance(data, dict):
        problems.append(f"{path}: expected a mapping of keys to values at the top level")
        return {}
    if stage and isinstance(data.get(stage), dict):
        return data[stage]
    return data


def parse_override(item: str, problems: list[str]) -> dict[str, Any] | None:
    """`a.b=value` (value read as YAML) as the nested dict {"a": {"b": value}}; None and a problem when malformed."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        problems.append(f"--set {item!r}: expected key=value, e.g. --set seed=7")
        return None
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return _nest(key.strip().split("."), value)


def _nest(parts: list[str], value: Any) -> dict[str, Any]:
    for part in reversed(parts):
        value = {part: value}
    return value


def deep_merge(into: dict[str, Any], new: dict[str, Any]) -> None:
    """Merge `new` into `into` in place, nested dicts key by key (later values win)."""
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            deep_merge(into[key], value)
        else:
            into[key] = value


def model_class_at(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model a field's annotation holds (also inside Optional/Union), or None."""
    candidates = [annotation, *typing.get_args(annotation)]
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _tagged_item_classes(annotation: Any) -> list[tuple[str, type[BaseModel]]]:
    """For list[Annotated[A | B, Field(discriminator="type")]]: [("a", A), ("b", B)]; else []."""
    if typing.get_origin(annotation) is not list:
        return []
    (item,) = typing.get_args(annotation) or (None,)
    if typing.get_origin(item) is not typing.Annotated:
        return []
    union = typing.get_args(item)[0]
    classes = [c for c in typing.get_args(union) if isinstance(c, type) and issubclass(c, BaseModel)]
    if not classes or any("type" not in c.model_fields for c in classes):
        return []
    return [(typing.get_args(c.model_fields["type"].annotation)[0], c) for c in classes]


def _field_names_at(cls: type[BaseModel], loc: list[str]) -> list[str]:
    current: type[BaseModel] | None = cls
    for part in loc:
        field = current.model_fields.get(part) if current else None
        current = model_class_at(field.annotation) if field else None
        if current is None:
            return []
    return list(current.model_fields) if current else []


def _type_name(annotation: Any) -> str:
    if typing.get_origin(annotation) is typing.Literal:
        return "|".join(str(choice) for choice in typing.get_args(annotation))
    text = getattr(annotation, "__name__", None) if not typing.get_args(annotation) else None
    return text or str(annotation).replace("typing.", "")
