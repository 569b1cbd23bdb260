"""The two demo pipelines (`make demo`), run once per test session and shared by the tests that need them.

Each runs `antrenor run` on the shipped example YAML, as `make demo` does, in a scratch folder whose
`data` links to the repository's demo data, so the YAML's relative paths work unchanged. Tests that
share a demo carry the same `xdist_group`, and `make test` runs pytest with `--dist loadgroup`, so they
land on one worker and the demo runs once.
"""

import contextlib
import os
from pathlib import Path

import pytest

from antrenor.pipeline import run_pipeline
from tests.conftest import REPO


@contextlib.contextmanager
def inside(folder: Path):
    previous = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


def run_demo(tmp_path_factory, example: str):
    folder = tmp_path_factory.mktemp(example.removesuffix(".yaml"))
    (folder / "data").symlink_to(REPO / "data", target_is_directory=True)
    with inside(folder):
        first = run_pipeline(REPO / "examples" / example)
        again = run_pipeline(REPO / "examples" / example)  # make demo twice: nothing reruns
    return folder, first, again


@pytest.fixture(scope="session")
def classification_demo(tmp_path_factory):
    """examples/legal-classification.yaml run end to end: (work folder, first RunResult, second RunResult)."""
    return run_demo(tmp_path_factory, "legal-classification.yaml")


@pytest.fixture(scope="session")
def sft_demo(tmp_path_factory):
    return run_demo(tmp_path_factory, "legal-sft.yaml")
