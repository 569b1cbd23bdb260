"""Readers: every supported input becomes a stream of RawRecords, one at a time.

Line-based formats (JSONL, CSV/TSV, text) are streamed, so a file larger than memory is
fine; a JSON array is parsed whole (JSON has no record boundaries to stream on). A record
that cannot be read becomes a RawRecord with a Problem naming the line and the fix: the
rest of the file goes on.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from antrenor.data.records import RawRecord
from antrenor.errors import ConfigError
from antrenor.records.problem import Problem

FORMATS = ("jsonl", "json", "csv", "tsv", "parquet", "text", "hf")
_SUFFIX_FORMATS = {
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv",
    ".parquet": "parquet", ".pq": "parquet", ".txt": "text", ".text": "text", ".md": "text",
}
_SPLIT_WORDS = {
    "train": "train", "training": "train",
    "validation": "validation", "valid": "validation", "val": "validation", "dev": "validation",
    "test": "test", "testing": "test",
}
_ENCODING_FIX = (
    "save the file as UTF-8 (for legacy Romanian files: iconv -f cp1250 -t utf-8 or -f iso-8859-16)"
)

Progress = Callable[[int], None]


def input_files(paths: list[str]) -> tuple[list[tuple[Path, str]], list[str]]:
    """Expand the inputs into (file, format) pairs; return every problem found, none raised."""
    found: list[tuple[Path, str]] = []
    problems: list[str] = []
    for given in paths:
        path = Path(given)
        if not path.exists():
            problems.append(f"input {given} does not exist")
        elif path.is_dir() and _is_datasets_folder(path):
            found.append((path, "hf"))
        elif path.is_dir():
            inside = sorted(p for p in path.rglob("*") if _is_data_file(p, path))
            if not inside:
                problems.append(f"input folder {given} holds no file of a supported format ({', '.join(FORMATS)})")
            found.extend((p, detect_format(p)) for p in inside)  # type: ignore[misc]
        elif detect_format(path) is None:
            problems.append(
                f"cannot tell the format of {given} from its name; use one of "
                f"{', '.join(sorted(_SUFFIX_FORMATS))} (optionally .gz)"
            )
        else:
            found.append((path, detect_format(path)))  # type: ignore[arg-type]
    problems += [problem for path, fmt in found if fmt not in ("hf", "parquet") and (problem := encoding_problem(path))]
    return found, problems


_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32", "UTF-32LE"), (b"\x00\x00\xfe\xff", "UTF-32", "UTF-32BE"),
         (b"\xff\xfe", "UTF-16", "UTF-16LE"), (b"\xfe\xff", "UTF-16", "UTF-16BE"))


def encoding_problem(path: Path) -> str | None:
    """A text file in UTF-16/32 (a byte-order mark, or NUL bytes in a regular pattern), named with its iconv fix.

    Read as UTF-8, such a file fails at byte 0 (the BOM) or turns into one NUL-riddled line a record; Windows
    tools (Notepad's "Unicode", PowerShell 5's `>`) write UTF-16 by default."""
    try:
        with _open_binary(path) as handle:
            head = handle.read(4096)
    except OSError:
        return None  # the reader reports unreadable files
    found = next(((name, order) for bom, name, order in _BOMS if head.startswith(bom)), None)
    if found:
        source, what = found[0], f"{found[1]}, from its byte-order mark"
    elif head.count(0) * 4 >= len(head) > 0:
        even, odd = head[0::2].count(0), head[1::2].count(0)
        if odd > 3 * even:
            source = "UTF-16LE"
        elif even > 3 * odd:
            source = "UTF-16BE"
        else:
            return (f"{path} holds NUL bytes in a pattern of no text encoding antrenor knows: it is not a UTF-8 text "
                    "file; export the data again as UTF-8 text")
        what = "no byte-order mark, a NUL byte at every other position"
    else:
        return None
    plain = path.name.removesuffix(".gz").removesuffix(".GZ")
    target = path.with_name(f"{plain.split('.')[0]}.utf8{plain[len(plain.split('.')[0]):]}")
    read = f"gunzip -c {path} | iconv -f {source} -t UTF-8" if plain != path.name else f"iconv -f {source} -t UTF-8 {path}"
    return f"{path} is {source} text ({what}), not UTF-8: convert it with {read} > {target}, and prepare that file"


def _is_data_file(path: Path, folder: Path) -> bool:
    """Files a folder input contributes: data formats, not its README/LICENSE or hidden files."""
    relative = path.relative_to(folder).parts
    if not path.is_file() or any(part.startswith(".") for part in relative):
        return False
    if path.name.upper().startswith(("README", "LICENSE", "LICENCE", "NOTICE", "ATTRIBUTION")):
        return False
    return detect_format(path) is not None and not path.name.lower().endswith((".md", ".md.gz"))


def detect_format(path: Path) -> str | None:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return _SUFFIX_FORMATS.get(suffixes[-1]) if suffixes else None


def split_from_name(name: str) -> str | None:
    """'RO-STS.train.tsv' -> train, 'legal_dev.jsonl' -> validation, 'articles.jsonl' -> None."""
    words = re.split(r"[^a-z]+", name.lower())
    hits = [_SPLIT_WORDS[w] for w in words if w in _SPLIT_WORDS]
    return hits[-1] if hits else None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    if path.is_dir():
        for part in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(part.relative_to(path).as_posix().encode())
            digest.update(file_sha256(part).encode())
        return digest.hexdigest()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_records(path: Path, fmt: str, *, text_unit: str, max_bytes: int, progress: Progress) -> Iterator[RawRecord]:
    """Yield the records of one input. `progress` is called with the bytes consumed."""
    source = str(path)
    split = split_from_name(path.name) if fmt != "hf" else None
    if fmt == "jsonl":
        records = _read_jsonl(path, source, max_bytes, progress)
    elif fmt == "json":
        records = _read_json(path, source, max_bytes, progress)
    elif fmt in ("csv", "tsv"):
        records = _read_delimited(path, source, "\t" if fmt == "tsv" else ",", max_bytes, progress)
    elif fmt == "parquet":
        records = _read_parquet(path, source, progress)
    elif fmt == "text":
        records = _read_text(path, source, text_unit, max_bytes, progress)
    elif fmt == "hf":
        records = _read_datasets_folder(path, source)
    else:
        raise ConfigError(f"unsupported format {fmt!r} for {source}")
    for record in records:
        if record.split is None:
            record.split = split
        yield record


def _open_binary(path: Path):
    return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else path.open("rb")


def _decode_line(raw: bytes, line: int) -> tuple[str | None, Problem | None]:
    if line == 1 and raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8").rstrip("\r\n"), None
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 1].hex()
        return None, Problem("invalid_utf8", f"invalid UTF-8 at byte {exc.start} of the line (0x{bad})", _ENCODING_FIX)


def _shown(raw: bytes) -> str:
    return raw.decode("utf-8", errors="backslashreplace").rstrip("\r\n")


def _too_large(raw: bytes, max_bytes: int) -> Problem:
    return Problem(
        "too_large",
        f"record is {len(raw) / 1e6:.1f} MB, over filters.max_record_bytes={max_bytes}",
        "split the record, or raise filters.max_record_bytes if it is meant to be this large",
    )


def _decoded_lines(path: Path, source: str, max_bytes: int, progress: Progress) -> Iterator[tuple[int, str | None, RawRecord | None]]:
    """(line number, text, None) for each non-blank line, or (line number, None, rejected record)."""
    with _open_binary(path) as handle:
        for line_no, raw in enumerate(handle, start=1):
            progress(len(raw))
            if not raw.strip():
                continue
            if len(raw) > max_bytes:
                yield line_no, None, RawRecord(source, line_no, _shown(raw), problem=_too_large(raw, max_bytes))
                continue
            text, problem = _decode_line(raw, line_no)
            if problem:
                yield line_no, None, RawRecord(source, line_no, _shown(raw), problem=problem)
            else:
                yield line_no, text, None


def _read_jsonl(path: Path, source: str, max_bytes: int, progress: Progress) -> Iterator[RawRecord]:
    for line_no, text, rejected in _decoded_lines(path, source, max_bytes, progress):
        yield rejected if rejected else _parse_json_object(source, line_no, text)  # type: ignore[arg-type]


def _parse_json_object(source: str, line_no: int, text: str) -> RawRecord:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return RawRecord(
            source, line_no, text,
            problem=Problem("invalid_json", f"malformed JSON at column {exc.colno}: {exc.msg}",
                            "each line must be one complete JSON object, e.g. {\"text\": \"...\"}"),
        )
    if not isinstance(value, dict):
        return RawRecord(
            source, line_no, text,
            problem=Problem("not_an_object", f"expected a JSON object, found a {type(value).__name__}",
                            "wrap the record in an object with named fields"),
        )
    if "\\ud" in text.lower() and _has_lone_surrogate(value):
        return RawRecord(
            source, line_no, text,
            problem=Problem("invalid_unicode", "a \\udXXX escape encodes half a character (a lone surrogate)",
                            "re-export the data from its source as UTF-8"),
        )
    return RawRecord(source, line_no, text, fields=value)


def _has_lone_surrogate(value: object) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _read_json(path: Path, source: str, max_bytes: int, progress: Progress) -> Iterator[RawRecord]:
    with _open_binary(path) as handle:
        data = handle.read()
    progress(len(data))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line_no = data.count(b"\n", 0, exc.start) + 1
        yield RawRecord(source, line_no, "", problem=Problem("invalid_utf8", f"invalid UTF-8 at byte {exc.start}; the whole file was skipped", _ENCODING_FIX))
        return
    start = len(text) - len(text.lstrip())
    if not text[start:].startswith("["):
        # Many ".json" files are really JSON Lines.
        for line_no, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                yield _parse_json_object(source, line_no, line)
        return
    yield from _read_json_array(text, source, start + 1)


def _read_json_array(text: str, source: str, pos: int) -> Iterator[RawRecord]:
    decoder = json.JSONDecoder()
    line_no, counted_to = 1, 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            return
        line_no += text.count("\n", counted_to, pos)
        counted_to = pos
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            yield RawRecord(
                source, exc.lineno, text[pos : pos + 200],
                problem=Problem("invalid_json", f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}; "
                                "the rest of the array was not read", "fix the JSON syntax there (or use JSON Lines, where one bad line costs one record)"),
            )
            return
        raw = text[pos:end]
        if isinstance(value, dict):
            yield RawRecord(source, line_no, raw, fields=value)
        else:
            yield RawRecord(source, line_no, raw, problem=Problem("not_an_object", f"expected a JSON object, found a {type(value).__name__}", "make each array element an object with named fields"))
        pos = end


def _read_delimited(path: Path, source: str, delimiter: str, max_bytes: int, progress: Progress) -> Iterator[RawRecord]:
    csv.field_size_limit(max(max_bytes, 131072))
    with _open_binary(path) as binary:
        counted = _CountingReader(binary, progress)
        handle = io.TextIOWrapper(counted, encoding="utf-8-sig", errors="surrogateescape", newline="")
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            header = next(reader)
        except (StopIteration, csv.Error):
            return
        header = [h.strip() for h in header]
        start = reader.line_num + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield RawRecord(source, start, "", problem=Problem("invalid_csv", f"unreadable row: {exc}", "check the quoting of this row"))
                start = reader.line_num + 1
                continue
            line_no, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            yield _row_record(source, line_no, header, row, delimiter)


def _row_record(source: str, line_no: int, header: list[str], row: list[str], delimiter: str) -> RawRecord:
    raw = delimiter.join(row)
    if any(_has_surrogates(cell) for cell in row):
        shown = raw.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        return RawRecord(source, line_no, shown, problem=Problem("invalid_utf8", "invalid UTF-8 in this row", _ENCODING_FIX))
    if len(row) != len(header):
        return RawRecord(
            source, line_no, raw,
            problem=Problem("bad_columns", f"row has {len(row)} fields, the header has {len(header)}",
                            "quote fields that contain the delimiter, or fix the row's field count"),
        )
    # An empty CSV cell means "no value", as a missing key does in JSON.
    fields = {name: cell for name, cell in zip(header, row) if cell != ""}
    return RawRecord(source, line_no, raw, fields=fields)


def _has_surrogates(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


class _CountingReader(io.RawIOBase):
    """Passes bytes through, reporting how many were read (for the progress bar)."""

    def __init__(self, inner, progress: Progress):
        self._inner, self._progress = inner, progress

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._inner.read(len(buffer))
        buffer[: len(data)] = data
        self._progress(len(data))
        return len(data)


def _read_parquet(path: Path, source: str, progress: Progress) -> Iterator[RawRecord]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    row_no = 0
    for batch in parquet.iter_batches(batch_size=2048):
        for row in batch.to_pylist():
            row_no += 1
            yield RawRecord(source, row_no, json.dumps(row, ensure_ascii=False, default=str), fields=row, unit="row")
    progress(path.stat().st_size)


def _read_text(path: Path, source: str, unit: str, max_bytes: int, progress: Progress) -> Iterator[RawRecord]:
    if unit == "line":
        for line_no, text, rejected in _decoded_lines(path, source, max_bytes, progress):
            yield rejected if rejected else RawRecord(source, line_no, text, fields={"text": text})  # type: ignore[arg-type]
        return
    with _open_binary(path) as handle:
        data = handle.read()
    progress(len(data))
    text, problem = _decode_line(data, 1)
    if problem:
        yield RawRecord(source, 1, "", problem=Problem(problem.code, problem.reason + "; the whole file was skipped", problem.fix))
        return
    if unit == "file":
        yield RawRecord(source, 1, text, fields={"text": text})  # type: ignore[dict-item]
        return
    yield from _paragraphs(source, text or "")


def _paragraphs(source: str, text: str) -> Iterator[RawRecord]:
    block: list[str] = []
    first = 0
    for line_no, line in enumerate(text.split("\n") + [""], start=1):
        if line.strip():
            first = first if block else line_no
            block.append(line)
        elif block:
            joined = "\n".join(block)
            yield RawRecord(source, first, joined, fields={"text": joined})
            block = []


def _is_datasets_folder(path: Path) -> bool:
    return any((path / name).exists() for name in ("dataset_dict.json", "dataset_info.json", "state.json"))


def _read_datasets_folder(path: Path, source: str) -> Iterator[RawRecord]:
    import datasets

    loaded = datasets.load_from_disk(str(path))
    parts = loaded.items() if isinstance(loaded, datasets.DatasetDict) else [(None, loaded)]
    for split_name, dataset in parts:
        split = _SPLIT_WORDS.get(split_name.lower(), None) if split_name else None
        label = f"{source}[{split_name}]" if split_name else source
        for row_no, row in enumerate(dataset, start=1):
            yield RawRecord(label, row_no, json.dumps(row, ensure_ascii=False, default=str), fields=dict(row), split=split, unit="row")


def known_split(value: object) -> str | None:
    """Map a `split` column's value to a split name, or None when it is not one."""
    if not isinstance(value, str):
        return None
    return _SPLIT_WORDS.get(value.strip().lower()) if value.strip().lower() in _SPLIT_WORDS else None

