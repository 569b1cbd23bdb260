"""Errors that the CLI turns into clear messages and exit codes (never a bare traceback)."""

from __future__ import annotations


class AntrenorError(Exception):
    """A failure the user can act on. Exit code 1."""

    exit_code = 1

    def __init__(self, message: str, *, problems: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.problems = problems or []

    def __str__(self) -> str:
        if not self.problems:
            return self.message
        lines = [self.message] + [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


class ConfigError(AntrenorError):
    """Bad usage or configuration, found before any heavy work. Exit code 2."""

    exit_code = 2


class DataError(AntrenorError):
    """The input data cannot be used (e.g. no usable record, or strict mode met a bad one)."""
