"""Where an output came from: library versions and the git commit, for manifests."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata


def package_versions(names: tuple[str, ...]) -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def git_commit() -> str | None:
    """The commit of the git checkout the command runs in, if any."""
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None
