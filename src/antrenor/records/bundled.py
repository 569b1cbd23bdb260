"""Text that ships inside the package (antrenor/resources): general-knowledge probes for forgetting checks."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def general_probes() -> list[dict[str, Any]]:
    """General-knowledge questions with accepted answers (Romanian and English), shipped in antrenor.resources."""
    content = resources.files("antrenor.resources").joinpath("general_probes.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in content.splitlines() if line.strip()]
