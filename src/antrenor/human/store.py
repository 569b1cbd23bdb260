"""Ratings in SQLite, saved the moment a rater submits a page: scores, A/B choices and comments.

One row per (rater, item, system, criterion): rating a page again replaces that rater's earlier scores
(an upsert), so going back to fix a score never double-counts. WAL mode lets `human report` read while
`human serve` writes. Raters and systems are stored by name and opaque id; `human report` maps the ids
to model names from systems.json.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

SCHEMA = """
CREATE TABLE IF NOT EXISTS ratings (
    rater TEXT NOT NULL, item TEXT NOT NULL, system TEXT NOT NULL, criterion TEXT NOT NULL,
    score INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5), saved_at REAL NOT NULL,
    PRIMARY KEY (rater, item, system, criterion));
CREATE TABLE IF NOT EXISTS preferences (
    rater TEXT NOT NULL, item TEXT NOT NULL, first TEXT NOT NULL, second TEXT NOT NULL,
    choice TEXT NOT NULL CHECK (choice IN ('first', 'second', 'tie')), saved_at REAL NOT NULL,
    PRIMARY KEY (rater, item));
CREATE TABLE IF NOT EXISTS comments (
    rater TEXT NOT NULL, page TEXT NOT NULL, text TEXT NOT NULL, saved_at REAL NOT NULL,
    PRIMARY KEY (rater, page));
"""


class RatingStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=10)
        db.row_factory = sqlite3.Row
        try:
            with db:  # one transaction: a page's scores are saved together or not at all
                yield db
        finally:
            db.close()

    def save_page(self, rater: str, item: str, scores: dict[tuple[str, str], int], choice: tuple[str, str, str] | None,
                  page: str, comment: str = "") -> None:
        """scores: (system, criterion) -> 1..5; choice: (first, second, 'first'|'second'|'tie') in canonical order."""
        now = time.time()
        with self._connect() as db:
            db.executemany("INSERT INTO ratings VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (rater, item, system, criterion) "
                           "DO UPDATE SET score = excluded.score, saved_at = excluded.saved_at",
                           [(rater, item, system, criterion, score, now) for (system, criterion), score in scores.items()])
            if choice is not None:
                db.execute("INSERT INTO preferences VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (rater, item) "
                           "DO UPDATE SET first = excluded.first, second = excluded.second, choice = excluded.choice, "
                           "saved_at = excluded.saved_at", (rater, item, *choice, now))
            if comment.strip():
                db.execute("INSERT INTO comments VALUES (?, ?, ?, ?) ON CONFLICT (rater, page) "
                           "DO UPDATE SET text = excluded.text, saved_at = excluded.saved_at", (rater, page, comment, now))
            else:
                db.execute("DELETE FROM comments WHERE rater = ? AND page = ?", (rater, page))

    def rater_scores(self, rater: str, item: str) -> dict[tuple[str, str], int]:
        """This rater's own scores on one item: (system, criterion) -> score."""
        with self._connect() as db:
            rows = db.execute("SELECT system, criterion, score FROM ratings WHERE rater = ? AND item = ?", (rater, item))
            return {(r["system"], r["criterion"]): r["score"] for r in rows}

    def rater_choice(self, rater: str, item: str) -> dict[str, str] | None:
        with self._connect() as db:
            row = db.execute("SELECT first, second, choice FROM preferences WHERE rater = ? AND item = ?",
                             (rater, item)).fetchone()
            return dict(row) if row else None

    def rater_comment(self, rater: str, page: str) -> str:
        with self._connect() as db:
            row = db.execute("SELECT text FROM comments WHERE rater = ? AND page = ?", (rater, page)).fetchone()
            return row["text"] if row else ""

    def rated_pages(self, rater: str) -> set[tuple[str, str]]:
        """(item, system) pairs this rater has scored."""
        with self._connect() as db:
            return {(r["item"], r["system"]) for r in db.execute(
                "SELECT DISTINCT item, system FROM ratings WHERE rater = ?", (rater,))}

    def all_ratings(self) -> list[dict[str, Any]]:
        with self._connect() as db:
            return [dict(r) for r in db.execute("SELECT rater, item, system, criterion, score FROM ratings "
                                                "ORDER BY rater, item, system, criterion")]

    def all_preferences(self) -> list[dict[str, Any]]:
        with self._connect() as db:
            return [dict(r) for r in db.execute("SELECT rater, item, first, second, choice FROM preferences "
                                                "ORDER BY rater, item")]

    def all_comments(self) -> list[dict[str, Any]]:
        with self._connect() as db:
            return [dict(r) for r in db.execute("SELECT rater, page, text FROM comments ORDER BY rater, page")]
