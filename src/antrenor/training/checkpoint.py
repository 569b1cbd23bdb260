"""Checkpoint integrity: a checkpoint counts only when its completion marker says so.

The Trainer writes checkpoint-N/ file by file. After it finishes, antrenor writes
`antrenor_complete.json` (each file's size and sha256) through a temporary file and a rename, the
commit step of the checkpoint. On --resume, the newest checkpoint whose files all still match their
marker is used; one without a valid marker, or whose files no longer match it (truncated by a crash
or a full disk, or overwritten in place: a changed byte keeps the size but not the hash), is skipped
with the reason. Markers of older antrenor versions hold sizes only: those checkpoints are checked by
size, and the resume says so. The hashes detect corruption, not tampering: whoever can rewrite a file
can rewrite the marker too.

Whatever its marker, a checkpoint counts only when the files the Trainer will load do load
(`unloadable_file`): each safetensors header (shapes and offsets, not the tensors), each `.pt`/`.pth`
the Trainer reads with `torch.load(weights_only=True)` (mapped, not read), and the JSON files it reads
(trainer_state.json, config.json, ...). A file that fails (a checkpoint with an old marker overwritten
without changing size) skips the checkpoint, naming the file and the loader's reason, instead of the
Trainer failing halfway into the resume. When no checkpoint is intact, the resume starts from the
beginning with a warning (training/run.py `_resume_checkpoint`).

Cost: sha256 reads every byte once, at each save (on the main process) and at a resume (newest
checkpoint first, until one is intact): 0.6 s per 500 MB on one core of the development machine
(about 850 MB/s with the file in the page cache; a cold read is bound by the disk instead). The load
check reads headers and pickled indexes only, not the tensors: a fraction of a second.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

MARKER = "antrenor_complete.json"
_STEP = re.compile(r"^checkpoint-(\d+)$")
_BUFFER = 1 << 20  # 1 MiB reads: hashing runs at sha256's speed, not the syscalls'
# what the Trainer reads with torch.load(weights_only=True) on a resume; other .pt/.bin files (DeepSpeed's and
# FSDP's shards, training_args.bin) are read by other loaders, or not at all, and are left to them
_TORCH_FILES = re.compile(r"^(optimizer|scheduler|scaler)\.pt$|^rng_state(_\d+)?\.pth$|^(pytorch|adapter)_model(-[\w-]+)?\.bin$")
_JSON_FILES = re.compile(r"^(trainer_state|config|adapter_config)\.json$|\.index\.json$")  # read on a resume


def file_sha256(path: Path) -> str:
    """The file's sha256 in hex, read in 1 MiB blocks (constant memory, whatever the file's size)."""
    digest, buffer = hashlib.sha256(), bytearray(_BUFFER)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as file:
        while read := file.readinto(buffer):
            digest.update(view[:read])
    return digest.hexdigest()


def mark_complete(folder: Path, step: int) -> None:
    paths = [p for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MARKER and not p.name.startswith(f".{MARKER}")]
    files = {p.relative_to(folder).as_posix(): p.stat().st_size for p in paths}
    hashes = {p.relative_to(folder).as_posix(): file_sha256(p) for p in paths}
    partial = folder / f".{MARKER}.partial"
    partial.write_text(json.dumps({"step": step, "files": files, "sha256": hashes}, indent=1), encoding="utf-8")
    os.replace(partial, folder / MARKER)


@dataclass
class CheckpointCheck:
    folder: Path
    problem: str | None = None  # why it cannot be resumed from; None: intact
    hashed: bool = True  # False: an older marker without hashes, checked by file sizes only

    @property
    def intact(self) -> bool:
        return self.problem is None


def check_checkpoint(folder: Path) -> CheckpointCheck:
    """Whether every file the marker lists is there with its recorded size and, when recorded, its sha256, and
    whether the files a resume loads do load (`unloadable_file`)."""
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        sizes, hashes = marker["files"], marker.get("sha256")
        if not isinstance(sizes, dict) or not sizes or not isinstance(hashes, (dict, type(None))):
            raise ValueError("no files listed")
    except FileNotFoundError:
        return CheckpointCheck(folder, "no completion marker: the save did not finish")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return CheckpointCheck(folder, f"its completion marker {MARKER} is unreadable ({exc})")
    for name, size in sizes.items():
        path = folder / name
        if not path.is_file():
            return CheckpointCheck(folder, f"{name} is missing")
        if path.stat().st_size != size:
            return CheckpointCheck(folder, f"{name} has {path.stat().st_size} bytes, its marker says {size}")
    for name in sizes if hashes is not None else ():
        if name in hashes and file_sha256(folder / name) != hashes[name]:
            return CheckpointCheck(folder, f"{name} changed after it was saved (its sha256 differs from the marker's)")
    return CheckpointCheck(folder, unloadable_file(folder), hashed=hashes is not None)


def unloadable_file(folder: Path) -> str | None:
    """The first file of a checkpoint that would not load on a resume, with the loader's reason; None if all load.

    Cheap and what the Trainer does, minus the data: safetensors' safe_open parses the header (every tensor's
    dtype, shape and offsets, checked against the file's size); torch.load maps the file (mmap) and unpickles its
    index with weights_only=True (numpy's RNG state allowed, as transformers does); the JSON files the
    resume reads (trainer_state.json, config.json, adapter_config.json, shard indexes) are parsed. A byte
    changed inside a tensor's data is not seen: it loads, and only a content hash in the marker catches it."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        try:
            if path.suffix == ".safetensors":
                _open_safetensors(path)
            elif _TORCH_FILES.match(path.name):
                _open_torch_file(path)
            elif _JSON_FILES.search(path.name):
                json.loads(path.read_text(encoding="utf-8"))
        except Exception as exc:  # noqa: BLE001 - any failure of a loader means the Trainer's load would fail too
            return f"{name} cannot be loaded ({_load_error(exc)})"
    return None


def _open_safetensors(path: Path) -> None:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt", device="cpu") as tensors:
        for key in tensors.keys():
            tensors.get_slice(key).get_shape()


def _open_torch_file(path: Path) -> None:
    import torch
    from transformers.trainer_pt_utils import safe_globals

    with safe_globals():
        torch.load(path, map_location="cpu", weights_only=True, mmap=True)


def _load_error(exc: BaseException) -> str:
    """The loader's reason in one line (torch's weights-only message advises weights_only=False: not for a
    damaged file, so only its diagnosis is kept)."""
    text = str(exc)
    if "WeightsUnpickler error:" in text:
        text = "its pickle is damaged: " + text.split("WeightsUnpickler error:", 1)[1].strip()
    elif "mmap can only be used with files saved with" in text:
        text = "not a PyTorch zip archive"
    text = text.strip().splitlines()[0] if text.strip() else ""
    text = text if len(text) <= 160 else text[:157] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def is_complete(folder: Path) -> bool:
    return check_checkpoint(folder).intact


def checkpoints(folder: Path) -> list[Path]:
    """Checkpoint folders, newest step first."""
    found = [(int(m.group(1)), p) for p in folder.glob("checkpoint-*") if p.is_dir() and (m := _STEP.match(p.name))]
    return [p for _, p in sorted(found, reverse=True)]


def resumable_checkpoint(folder: Path) -> tuple[CheckpointCheck | None, list[CheckpointCheck]]:
    """The newest intact checkpoint, and the newer ones skipped on the way (each with its problem)."""
    skipped = []
    for candidate in checkpoints(folder):
        check = check_checkpoint(candidate)
        if check.intact:
            return check, skipped
        skipped.append(check)
    return None, skipped


def latest_complete_checkpoint(folder: Path) -> tuple[Path | None, list[Path]]:
    """The newest complete checkpoint, and the partial ones skipped on the way."""
    found, skipped = resumable_checkpoint(folder)
    return (found.folder if found else None), [check.folder for check in skipped]
