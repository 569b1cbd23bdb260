"""Output folders: who wrote them, and what a stage may replace there (docs/output-folders.md).

antrenor never deletes or overwrites a file it did not write. Every stage that writes a folder marks it
with `antrenor-stage.json`: the stage, the inputs its results are of, when it started and finished, and
(once finished) the files it wrote. `antrenor run` adds its cache key to the same file. Before any work,
a stage accepts an output folder that is

- absent or empty;
- marked as this stage's output of the same inputs: a re-run, which replaces the files it wrote;
- an output of this stage from an antrenor older than the marker (it holds `<stage>_config.yaml`).

Anything else (another stage's output, this stage's output of other inputs, files antrenor did not
write) is refused unless `overwrite` is set. Even then a stage only writes its own files there: what
else the folder holds stays, and export, which replaces its folder whole, refuses a folder holding
files that no marker lists. An output may not be, contain, or lie inside one of the stage's inputs.

The inputs that identify a stage's results ("the same inputs"): prepare, its input files; train, the
data folder and the base model; eval, the evaluated models and the data folder; export, the model
folder; monitor, the request log and the reference data; tune, the train section's data and model;
human report, the rating task (its task.json: the default report folder lies inside the task folder).
Settings are not part of it: a re-run with another learning rate or dedup threshold replaces the
earlier results of the same inputs (the resolved config beside them says which settings made them).

    >>> folder = OutputFolder("runs/prep", "prepare", ["data/in.jsonl"])
    >>> check_output(folder.path, "prepare", ["data/in.jsonl"], overwrite=False)  # [] or the problems
    >>> with folder:  # marks it; on an exception removes what this run created, if still empty
    ...     write_files(folder.path)
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from antrenor.errors import EnvironmentProblem, environment_problem

MARKER = "antrenor-stage.json"
_SQLITE_HEADER = b"SQLite format 3\x00"
_SHOWN = 5  # files named in a message


# -- the marker ------------------------------------------------------------------------------
def read_marker(folder: Path | str) -> dict[str, Any] | None:
    """The folder's marker, or None when it has none (or one that cannot be read)."""
    try:
        marker = json.loads((Path(folder) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) and isinstance(marker.get("stage"), str) else None


def write_marker(folder: Path | str, marker: dict[str, Any]) -> None:
    """Write the marker atomically (temp file + rename): a crash never leaves half of one."""
    folder = Path(folder)
    handle, temp = tempfile.mkstemp(dir=folder, prefix=".marker-")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(marker, out, indent=2, ensure_ascii=False)
    os.replace(temp, folder / MARKER)


def input_identity(inputs: Iterable[str | Path | None]) -> list[str]:
    """The inputs as compared between runs: existing paths resolved, names (hub ids, aliases) as given."""
    found = set()
    for value in inputs:
        if value is None or str(value) == "":
            continue
        path = Path(str(value))
        found.add(str(path.resolve()) if path.exists() else str(value))
    return sorted(found)


def antrenor_files(folder: Path) -> set[str]:
    """The files in `folder` that antrenor wrote, as paths relative to it.

    A marker lists them. An older antrenor's output (a marker without a list, or no marker but the stage's
    resolved config) is taken as all antrenor's except SQLite files and their journals, which antrenor never
    writes into a stage's folder but `serve` used to put its request log in the served folder."""
    marker = read_marker(folder)
    if marker is not None and isinstance(marker.get("files"), list):
        return {str(name) for name in marker["files"] if (folder / str(name)).is_file()} | {MARKER}
    stage = (marker or {}).get("stage") or _legacy_stage(folder)
    if stage is None:
        return set()
    files = set(_files(folder))
    databases = {name for name in files if _is_sqlite(folder / name)}
    journals = {name for name in files if any(name == f"{db}{suffix}" for db in databases
                                                for suffix in ("-wal", "-shm", "-journal"))}
    return files - databases - journals


def foreign_files(folder: Path) -> list[str]:
    """Files in `folder` that antrenor did not write there."""
    if not folder.is_dir():
        return []
    return sorted(set(_files(folder)) - antrenor_files(folder))


# -- before the work -------------------------------------------------------------------------
def check_output(output: Path | str, stage: str, inputs: Iterable[str | Path | None], overwrite: bool = False,
                 read_only: Iterable[str | Path | None] = ()) -> list[str]:
    """Every reason `stage` may not write `output`, each with its fix; [] when it may.

    inputs: what the results are of (compared with the marker's); read_only: other paths the stage reads,
    checked for overlap only."""
    output, inputs = Path(output), [str(p) for p in inputs if p]
    identity = input_identity(inputs)
    problems = overlap_problems(output, [*inputs, *(str(p) for p in read_only if p)])
    if output.exists() and not output.is_dir():
        return problems + [f"output {output} exists and is a file: give a folder (--output DIR)"]
    if problems or not output.is_dir() or not any(output.iterdir()) or overwrite:
        return problems
    fix = "pass --overwrite (--set overwrite=true) to write there anyway, or choose a new output folder"
    marker = read_marker(output)
    if marker is None:
        legacy = _legacy_stage(output)
        if legacy == stage:
            return []
        if legacy is not None:
            return [f"output {output} holds the results of `antrenor {legacy}`: {fix}"]
        shown = _listing(sorted(_files(output)) or sorted(p.name for p in output.iterdir()))
        return [f"output {output} is not empty and antrenor did not write it ({shown}): {fix}"]
    if marker["stage"] != stage:
        return [f"output {output} holds the results of `antrenor {marker['stage']}`: {fix}"]
    earlier = marker.get("inputs")
    if isinstance(earlier, list) and earlier != identity:
        return [f"output {output} holds the {stage} results of other inputs ({', '.join(map(str, earlier)) or 'none'}; "
                f"this run reads {', '.join(identity)}): {fix}"]
    return []


def overlap_problems(output: Path, inputs: Iterable[str]) -> list[str]:
    """An output that is an input, or lies inside one, or holds one, is refused: a run would read what it writes."""
    target = output.resolve()
    problems = []
    for value in inputs:
        path = Path(value)
        if not path.exists():
            continue
        source = path.resolve()
        if source == target:
            problems.append(f"output {output} is also an input of this run: choose another output folder")
        elif target.is_relative_to(source) and source.is_dir():
            problems.append(f"output {output} lies inside the input {value}: choose an output folder outside it")
        elif source.is_relative_to(target):
            problems.append(f"output {output} holds the input {value}: choose an output folder that does not")
    return problems


def check_writable(output: Path | str) -> None:
    """Create and remove a file where `output` will be made (itself, or its nearest existing parent), so a
    read-only disk or a missing permission stops the stage before the work, named as what it is."""
    output = Path(output)
    where = next((p for p in (output, *output.absolute().parents) if p.exists()), None)
    if where is None or not where.is_dir():
        return  # not a folder: the stage's own checks say so
    try:
        handle, temp = tempfile.mkstemp(dir=where, prefix=".antrenor-write-check-")
        os.close(handle)
        os.unlink(temp)
    except OSError as error:
        raise environment_problem(OSError(error.errno, error.strerror, str(output))) or EnvironmentProblem(
            f"cannot write in {where} ({error.strerror or error}): the output {output} cannot be made there",
            problems=["choose an output folder on a writable disk (--output DIR)"]) from None


# -- during and after the work -----------------------------------------------------------------
class OutputFolder:
    """A stage's output folder while it writes: marked at the start, its files listed at the end.

    Used as a context manager: on an exception, what this run created is removed if nothing but the
    marker is in it (a failed run leaves no empty folder), and a folder that held files keeps them.
    Set `complete = False` before leaving (an interrupted training) to leave it marked as unfinished."""

    def __init__(self, path: Path | str, stage: str, inputs: Iterable[str | Path | None]):
        self.path = Path(path)
        self.stage = stage
        self.inputs = input_identity(inputs)
        self.complete = True
        self._created: list[Path] = []
        self._before: dict[str, tuple[int, int]] = {}
        self._earlier: set[str] = set()
        self._marker_before: dict[str, Any] | None = None

    def __enter__(self) -> OutputFolder:
        self.open()
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None:
            self.finish(self.complete)
        else:
            self.abandon()

    def open(self) -> None:
        missing = [p for p in (self.path, *self.path.absolute().parents) if not p.exists()]
        self.path.mkdir(parents=True, exist_ok=True)
        self._created = missing  # deepest first
        self._earlier = antrenor_files(self.path) - {MARKER}
        self._marker_before = read_marker(self.path)
        self._before = _stats(self.path)
        # until the run finishes, only the earlier runs' files count as antrenor's
        write_marker(self.path, {"stage": self.stage, "inputs": self.inputs, "started": _now(),
                                 "files": sorted(self._earlier)})

    def finish(self, complete: bool = True) -> None:
        """List the files this run (or an earlier antrenor run) wrote, and mark the folder complete."""
        now = _stats(self.path)
        written = {name for name, stat in now.items() if self._before.get(name) != stat}
        marker = read_marker(self.path) or {"stage": self.stage, "inputs": self.inputs, "started": _now()}
        marker["files"] = sorted(written | (self._earlier & now.keys()))
        if complete:
            marker["finished"] = _now()
        write_marker(self.path, marker)

    def abandon(self) -> None:
        """After a failure that wrote nothing: the folder as it was (its earlier marker, or none), and the folders
        this run created removed. What a failed run did write stays, marked unfinished (a checkpoint to resume)."""
        if _stats(self.path) != self._before:
            return
        if self._marker_before is not None:
            write_marker(self.path, self._marker_before)
        else:
            (self.path / MARKER).unlink(missing_ok=True)
        for folder in self._created:
            try:
                folder.rmdir()
            except OSError:
                break


def clear_completion(folder: Path | str) -> None:
    """Mark an output as unfinished before a stage runs into it again (a failed re-run is never taken as done)."""
    marker = read_marker(folder)
    if marker is not None and ("finished" in marker or "key" in marker):
        write_marker(folder, {k: v for k, v in marker.items() if k not in ("finished", "key")})


def remove_own_folder(folder: Path, stage: str) -> bool:
    """Delete `folder`, which antrenor made whole for `stage` (a staging folder, a trial), only if its marker (or
    an older antrenor's resolved config of that stage) proves it; True if deleted."""
    marker = read_marker(folder)
    if (marker or {}).get("stage", _legacy_stage(folder) if marker is None else None) != stage:
        return False
    shutil.rmtree(folder)
    return True


# -- helpers -----------------------------------------------------------------------------------
def _legacy_stage(folder: Path) -> str | None:
    """The stage whose resolved config an older antrenor left in `folder` without a marker."""
    found = [stage for stage in ("prepare", "train", "eval", "export", "monitor", "human")
             if (folder / f"{stage}_config.yaml").is_file()]
    return found[0] if len(found) == 1 else None


def _files(folder: Path) -> Iterable[str]:
    for path in folder.rglob("*"):
        if path.is_file() or path.is_symlink():
            yield path.relative_to(folder).as_posix()


def _stats(folder: Path) -> dict[str, tuple[int, int]]:
    found = {}
    for name in _files(folder):
        if name == MARKER or name.startswith(".marker-"):
            continue
        try:
            stat = (folder / name).stat()
        except OSError:
            continue
        found[name] = (stat.st_size, stat.st_mtime_ns)
    return found


def _is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(len(_SQLITE_HEADER)) == _SQLITE_HEADER
    except OSError:
        return False


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")
