"""The two demo pipelines (`make demo`), run once per test session and shared by the tests that need them.

Each runs `antrenor run` on the shipped example YAML, as `make demo` does, in a scratch folder whose
`data` links to the repository's demo data, so the YAML's relative paths work unchanged. Tests that
share a demo carry the same `xdist_group` (`make test` runs pytest with `--dist loadgroup`), and the
demo folder is shared under a file lock, so each demo is built once per session whatever the workers.
"""

import contextlib
import json
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
    """Run the example twice in one folder per test session: (folder, run_state.json, second RunResult).

    The folder and a lock are shared by the xdist workers, so whichever worker comes first builds the
    demo and any other finds every stage cached. run_state.json keeps what the building run did.
    """
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # pytest-N/, one per session
    name = example.removesuffix(".yaml")
    folder = shared / f"demo-{name}"
    with FileLock(str(shared / f"demo-{name}.lock")):
        folder.mkdir(exist_ok=True)
        if not (folder / "data").exists():
            (folder / "data").symlink_to(REPO / "data", target_is_directory=True)
        with inside(folder):
            run_pipeline(REPO / "examples" / example)
            again = run_pipeline(REPO / "examples" / example)  # make demo twice: nothing reruns
    state = json.loads((folder / "runs" / "demo" / name / "run_state.json").read_text())
    return folder, state, again


@pytest.fixture(scope="session")
def classification_demo(tmp_path_factory):
    """examples/legal-classification.yaml run end to end: (work folder, run state, second RunResult)."""
    return run_demo(tmp_path_factory, "legal-classification.yaml")


@pytest.fixture(scope="session")
def sft_demo(tmp_path_factory):
    return run_demo(tmp_path_factory, "legal-sft.yaml")
