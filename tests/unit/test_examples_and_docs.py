"""Every shipped example config validates, and the generated config reference is current."""

from pathlib import Path

import pytest
import yaml

from antrenor.config import load_config
from antrenor.docs import config_reference_markdown, stage_configs
from tests.conftest import REPO

EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
# Warnings an example earns on purpose, explained in its comments; any other warning fails.
INTENDED_DOUBTS = {("legal-grpo.yaml", "train"): ["lr 0.001 is outside 5e-5..5e-4, the usual range for LoRA"]}


def test_there_are_examples():
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_config_validates_and_points_at_real_inputs(path: Path, monkeypatch):
    monkeypatch.chdir(REPO)  # examples use repository-relative paths
    sections = yaml.safe_load(path.read_text(encoding="utf-8"))
    for config_class in stage_configs():
        if config_class.stage in sections:
            cfg = load_config(config_class, path)
            assert cfg.doubts() == INTENDED_DOUBTS.get((path.name, config_class.stage), [])
            for given in getattr(cfg, "input", []):
                assert Path(given).exists(), f"{path.name}: input {given} is missing"


def test_config_reference_is_not_stale():
    committed = (REPO / "docs" / "config.md").read_text(encoding="utf-8")
    assert committed == config_reference_markdown(), "regenerate: python -m antrenor.docs > docs/config.md"


def test_cli_help_lists_every_config_key(capsys):
    from antrenor.cli import main

    with pytest.raises(SystemExit):
        main(["prepare", "--help"])
    shown = capsys.readouterr().out
    for key in ("dedup.threshold", "filters.too_long", "augment.strip_diacritics", "split.stratify"):
        assert key in shown
