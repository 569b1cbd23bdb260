"""Models trained once and shared by the integration tests that need them.

Tests that share a fixture carry the same `xdist_group`, and `make test` runs pytest with
`--dist loadgroup`, so they land on one worker and the model is trained once.
"""

import pytest

from antrenor import prepare, train
from tests.conftest import DEMO, read_jsonl, write_jsonl


@pytest.fixture(scope="session")
def tuned_minilm(tmp_path_factory):
    """MiniLM fine-tuned on 400 demo articles (9 codes), 100 held out as test: (data folder, model folder)."""
    folder = tmp_path_factory.mktemp("minilm-codes")
    rows = read_jsonl(DEMO / "legal-classification" / "articles.jsonl")
    source = write_jsonl(folder / "articles.jsonl", rows[:500])
    prepare({"input": [str(source)], "output": str(folder / "data"), "model": "minilm-l6",
             "split": {"validation": 0.0, "test": 0.2}})
    train({"data": str(folder / "data"), "model": "minilm-l6", "task": "classification", "method": "full",
           "output": str(folder / "model"), "epochs": 8, "batch_size": 16, "effective_batch_size": 16,
           "lr": 2e-4, "max_length": 128, "report_to": []})
    return folder / "data", folder / "model"
