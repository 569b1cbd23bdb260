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


class EnvironmentProblem(AntrenorError):
    """The machine, not antrenor or the config: a read-only disk, a missing permission, a full disk."""


_ENVIRONMENT_FIXES = {
    "EROFS": ("the file system is read-only", "choose an output folder on a writable disk (--output DIR)"),
    "EACCES": ("permission denied", "choose a folder you may write to (--output DIR), or fix its permissions"),
    "EPERM": ("operation not permitted", "choose a folder you may write to (--output DIR), or fix its permissions"),
    "ENOSPC": ("the disk is full", "free space on that disk, or choose an output folder on another one"),
    "EDQUOT": ("the disk quota is used up", "free space within your quota, or choose an output folder elsewhere"),
}


def environment_problem(error: OSError, where: object = None) -> EnvironmentProblem | None:
    """An OSError that says the environment stops the work (read-only, permission, full disk) as an
    EnvironmentProblem naming the file and the fix; None for any other OSError."""
    import errno

    name = errno.errorcode.get(error.errno or -1, "")
    if name not in _ENVIRONMENT_FIXES:
        return None
    what, fix = _ENVIRONMENT_FIXES[name]
    path = error.filename or where
    where_text = f"{path}: " if path else ""
    return EnvironmentProblem(f"{where_text}{what} (a problem of the environment, not of antrenor)", problems=[fix])
