"""Why a record cannot be used: the one type that readers, kind checks and reports share."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """Why a record was rejected, and what the user can do about it."""

    code: str  # short and stable, e.g. "invalid_json"; reports group by it
    reason: str
    fix: str = ""
