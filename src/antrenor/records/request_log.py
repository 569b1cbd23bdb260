"""The request log: every request and response the server handles, in SQLite. The server writes it; the
monitor reads it (the columns below are the contract between them).

One row per HTTP request, written when the response is complete (streamed responses when the
stream ends). WAL journal mode: readers (`antrenor monitor`, a dashboard) never block the server,
and a committed row survives the server process being killed (kill -9), since the write-ahead log
is on disk before `commit()` returns. `synchronous=NORMAL` trades durability on power loss
(the last commits may roll back, the database stays consistent) for fewer fsyncs per request.

    >>> log = RequestLog("requests.db")
    >>> log.record(endpoint="/v1/classify", model="legal", model_version="abc123", status=200, latency_ms=12.5,
    ...            inputs=["Art. 1 ..."], outputs=[{"label": "civil_code", "score": 0.93}])
    >>> rows = log.rows()

Columns (a contract: `antrenor monitor` reads them):
    id               INTEGER  autoincrement
    created_at       TEXT     ISO-8601 UTC, when the request arrived
    endpoint         TEXT     /v1/chat/completions, /v1/completions, /v1/classify
    model            TEXT     the served model's name
    model_version    TEXT     a short hash of the served weights (the export's manifest), or ""
    status           INTEGER  HTTP status sent
    latency_ms       REAL     arrival to last byte
    inputs           TEXT     JSON list of the texts the model saw: classify -> every input;
                              chat -> the last user message; completions -> the prompt(s)
    outputs          TEXT     JSON list, one per input: generated text, or {"label", "score", "scores"}
    prompt_tokens    INTEGER  generation only, else NULL
    completion_tokens INTEGER generation only, else NULL
    error            TEXT     the error message sent for 4xx/5xx, else NULL
    request          TEXT     the request body as received (cut to 64 KB)
"""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    model TEXT NOT NULL,
    model_version TEXT NOT NULL DEFAULT '',
    status INTEGER NOT NULL,
    latency_ms REAL NOT NULL,
    inputs TEXT NOT NULL DEFAULT '[]',
    outputs TEXT NOT NULL DEFAULT '[]',
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    error TEXT,
    request TEXT
);
CREATE INDEX IF NOT EXISTS requests_created_at ON requests (created_at);
"""
MAX_REQUEST_CHARS = 64 * 1024
READ_COLUMNS = ("id", "created_at", "endpoint", "status", "inputs", "outputs")  # what a reader needs


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class RequestLog:
    """A thread-safe writer (one connection, one lock) and reader of the request log.

    `read_only=True` (what open_read_only gives): SQLite opens the file with mode=ro, so nothing,
    not a table, not the journal mode, can be written to it, and it must already be a request log."""

    def __init__(self, path: str | Path, *, read_only: bool = False):
        self.path = Path(path)
        self._lock = threading.Lock()
        if read_only:
            self._db = sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro", uri=True, check_same_thread=False,
                                       isolation_level=None, timeout=30)
            try:
                self._check_is_request_log()
            except BaseException:
                self._db.close()
                raise
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def _check_is_request_log(self) -> None:
        from antrenor.errors import DataError

        fix = "pass the request log `antrenor serve` writes (the log_db it prints when it starts)"
        try:
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(requests)")}
        except sqlite3.DatabaseError as exc:  # "file is not a database", "database disk image is malformed"
            raise DataError(f"{self.path} is not a SQLite database ({exc}), so not an antrenor request log",
                            problems=[fix]) from None
        if not columns:
            tables = [row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            raise DataError(f"{self.path} is a SQLite database but not an antrenor request log: it has no `requests` "
                            f"table (tables: {', '.join(tables) or 'none'})", problems=[fix])
        missing = [c for c in READ_COLUMNS if c not in columns]
        if missing:
            raise DataError(f"{self.path}: its `requests` table lacks the columns {', '.join(missing)} of antrenor's "
                            "request log", problems=[fix])

    def record(self, *, endpoint: str, model: str, status: int, latency_ms: float, model_version: str = "",
               inputs: list[Any] | None = None, outputs: list[Any] | None = None, prompt_tokens: int | None = None,
               completion_tokens: int | None = None, error: str | None = None, request: str | None = None,
               created_at: str | None = None) -> int:
        """Append one row (committed before returning); returns its id."""
        row = (created_at or utc_now(), endpoint, model, model_version, int(status), float(latency_ms),
               json.dumps(inputs or [], ensure_ascii=False), json.dumps(outputs or [], ensure_ascii=False),
               prompt_tokens, completion_tokens, error, (request or "")[:MAX_REQUEST_CHARS] or None)
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO requests (created_at, endpoint, model, model_version, status, latency_ms, inputs, outputs,"
                " prompt_tokens, completion_tokens, error, request) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
            return int(cursor.lastrowid)

    def rows(self, since: str | None = None, endpoint: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Rows as dicts (inputs/outputs decoded), oldest first; optionally only after `since` (ISO time)."""
        query, params = "SELECT * FROM requests WHERE 1=1", []
        if since:
            query, params = query + " AND created_at > ?", [*params, since]
        if endpoint:
            query, params = query + " AND endpoint = ?", [*params, endpoint]
        query += " ORDER BY id"
        if limit:
            query, params = query + " LIMIT ?", [*params, int(limit)]
        with self._lock:
            cursor = self._db.execute(query, params)
            names = [c[0] for c in cursor.description]
            found = [dict(zip(names, values)) for values in cursor.fetchall()]
        for row in found:
            try:
                row["inputs"], row["outputs"] = json.loads(row["inputs"]), json.loads(row["outputs"])
            except (TypeError, ValueError):
                from antrenor.errors import DataError

                raise DataError(f"{self.path}: row {row.get('id')} holds inputs or outputs that are not JSON; "
                                "antrenor's server never writes such rows",
                                problems=["remove the row, or pass the request log `antrenor serve` writes"]) from None
        return found

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM requests").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


def open_read_only(path: str | Path) -> RequestLog:
    """A log someone else writes (e.g. a running server), opened read-only: it must exist and be a request log
    (a DataError says what it is otherwise). Readers never block the server (WAL) and never write."""
    from antrenor.errors import ConfigError, DataError

    if not Path(path).is_file():
        raise ConfigError(f"request log {path} does not exist", problems=["pass the --log-db file `antrenor serve` writes"])
    try:
        return RequestLog(path, read_only=True)
    except sqlite3.OperationalError as exc:  # unreadable: permissions, or a WAL log whose -shm file cannot be made
        raise DataError(f"cannot read the request log {path}: {exc}",
                        problems=["check that you may read the file and its folder"]) from None
