"""Reading the pipeline YAML, and writing it back with the best trial's train values.

The best pipeline keeps the input file's comments and layout where the train keys are written in
block style (`key: value` lines): only those values change, and missing keys are added to their
section. The edit is checked by parsing the result; if it would not parse to exactly the intended
mapping (flow style, anchors, unusual quoting), the whole file is written out again instead, without
its comments. Either way a header comment says where the file came from.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from antrenor.tuning.space import apply_values

_KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][\w.-]*)\s*:(?P<rest>.*)$")
_COMMENT = re.compile(r"\s+#.*$")


@dataclass
class PipelineYaml:
    """A pipeline YAML: its sections, and its text and path when it came from a file."""

    sections: dict[str, Any]
    text: str | None = None
    path: Path | None = None


def read_pipeline(source: str | Path | dict[str, Any]) -> tuple[PipelineYaml | None, list[str]]:
    """The pipeline, or None and the problems that stop reading it."""
    if isinstance(source, dict):
        return PipelineYaml(copy.deepcopy(source)), []
    path = Path(source)
    if not path.is_file():
        return None, [f"pipeline YAML {path} does not exist"]
    text = path.read_text(encoding="utf-8")
    try:
        sections = yaml.safe_load(text) or {}
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        return None, [f"{where}: invalid YAML: {exc.problem}"]
    except yaml.YAMLError as exc:
        return None, [f"{path}: cannot read YAML: {exc}"]
    if not isinstance(sections, dict):
        return None, [f"{path}: expected a mapping of sections (prepare, train, tune, ...) at the top level"]
    return PipelineYaml(sections, text, path), []


def best_pipeline_text(pipeline: PipelineYaml, values: dict[str, Any], header: list[str]) -> str:
    """The pipeline YAML with `values` (dotted train keys) set in its train section."""
    wanted = dict(pipeline.sections)
    wanted["train"] = apply_values(pipeline.sections["train"], values)
    comment = "".join(f"# {line}\n" for line in header)
    if pipeline.text is not None:
        edited = _edit_train_values(pipeline.text, values)
        if edited is not None and _parses_to(edited, wanted):
            return comment + edited
    return comment + yaml.safe_dump(wanted, sort_keys=False, allow_unicode=True)


def _parses_to(text: str, wanted: dict[str, Any]) -> bool:
    try:
        return yaml.safe_load(text) == wanted
    except yaml.YAMLError:
        return False


def _edit_train_values(text: str, values: dict[str, Any]) -> str | None:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    train = _find_key(lines, 0, len(lines), "train")
    if train is None:
        return None
    for key, value in values.items():
        parts = key.split(".")
        parent, start, end = train, train + 1, _block_end(lines, train)
        for depth, part in enumerate(parts):
            found = _find_key(lines, start, end, part)
            if found is None:
                _insert(lines, parent, end, parts[depth:], value)
                break
            parent, start, end = found, found + 1, _block_end(lines, found)
        else:
            _replace_value(lines, parent, value)
    return "".join(lines)


def _find_key(lines: list[str], start: int, end: int, key: str) -> int | None:
    """The line of `key` among the direct children of the block lines[start:end]."""
    child_indent = None
    for index in range(start, end):
        line = lines[index]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if child_indent is None:
            child_indent = _indent(line)
        match = _KEY_LINE.match(line.rstrip("\n"))
        if match and len(match["indent"]) == child_indent and match["key"] == key:
            return index
    return None


def _block_end(lines: list[str], header: int) -> int:
    """One past the last line belonging to the mapping that starts at lines[header]."""
    own = _indent(lines[header])
    end = header + 1
    for index in range(header + 1, len(lines)):
        line = lines[index]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if _indent(line) <= own:
            break
        end = index + 1
    return end


def _replace_value(lines: list[str], index: int, value: Any) -> None:
    """Set the value on a `key: value  # comment` line, keeping the comment."""
    match = _KEY_LINE.match(lines[index].rstrip("\n"))
    comment = _COMMENT.search(match["rest"])
    lines[index] = f"{match['indent']}{match['key']}: {_scalar(value)}{comment.group(0) if comment else ''}\n"


def _insert(lines: list[str], parent: int, end: int, parts: list[str], value: Any) -> None:
    """Add a missing key (and the sections it is under) at the end of the parent's block."""
    children = [_indent(line) for line in lines[parent + 1 : end] if line.strip() and not line.lstrip().startswith("#")]
    indent = children[0] if children else _indent(lines[parent]) + 2
    new = []
    for depth, part in enumerate(parts):
        pad = " " * (indent + 2 * depth)
        new.append(f"{pad}{part}: {_scalar(value)}\n" if depth == len(parts) - 1 else f"{pad}{part}:\n")
    lines[end:end] = new


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _scalar(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True).splitlines()[0]
