"""Hyperparameter search on a tiny random model: trials, pruning, resume, outputs, and config errors."""

import csv
import json
from pathlib import Path

import pytest
import yaml

pytest.importorskip("optuna")

from antrenor import tune  # noqa: E402
from antrenor.config import load_config  # noqa: E402
from antrenor.errors import ConfigError  # noqa: E402
from antrenor.training.config import TrainConfig  # noqa: E402

FAST = {"task": "sft", "method": "lora", "max_steps": 2, "eval_steps": 1, "batch_size": 2, "effective_batch_size": 4,
        "report_to": [], "bf16": False, "lora": {"r": 4, "alpha": 8}}
SPACE = {"lr": {"low": 1.0e-4, "high": 1.0e-2, "log": True}, "lora.r": {"choices": [2, 4]}}


def write_pipeline(folder: Path, data: Path, model: Path, tune_section: dict, train: dict | None = None) -> Path:
    """A pipeline YAML with comments, as a user writes one."""
    train_yaml = yaml.safe_dump({"data": str(data), "model": str(model), "output": str(folder / "model"),
                                 **FAST, **(train or {})}, sort_keys=False)
    text = ("# tiny pipeline for the tune tests\n"
            "prepare:\n  input: [input.jsonl]   # kept as it is\n  output: prepared\n\n"
            "train:\n" + "".join(f"  {line}\n" for line in train_yaml.splitlines()) +
            "\ntune:\n" + "".join(f"  {line}\n" for line in yaml.safe_dump(tune_section, sort_keys=False).splitlines()))
    path = folder / "pipeline.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_two_trials_write_a_ready_best_pipeline_then_a_resumed_search_runs_only_the_rest(sft_data, tiny_llama_dir, tmp_path):
    path = write_pipeline(tmp_path, sft_data, tiny_llama_dir, {"trials": 2, "space": SPACE, "pruner": {"kind": "none"}})
    result = tune(path)

    assert [row.state for row in result.trials] == ["complete", "complete"]
    assert result.metric == "eval_loss" and result.direction == "minimize"
    best = min(result.trials, key=lambda row: row.value)
    assert result.best.number == best.number

    sections = yaml.safe_load(result.best_pipeline.read_text(encoding="utf-8"))
    assert set(sections) == {"prepare", "train", "tune"}
    cfg = load_config(TrainConfig, result.best_pipeline)  # the train section of a ready pipeline
    assert cfg.lr == best.params["lr"] and cfg.lora.r == best.params["lora.r"]
    assert cfg.output == str(tmp_path / "model")  # the pipeline trains afresh, not into a trial folder
    text = result.best_pipeline.read_text(encoding="utf-8")
    assert "# kept as it is" in text and text.startswith("# written by antrenor tune")

    with result.trials_csv.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["trial"]) for r in rows] == [0, 1]
    assert float(rows[best.number]["eval_loss"]) == pytest.approx(best.value)
    assert {r["lora.r"] for r in rows} <= {"2", "4"}
    assert json.loads((result.output / "best.json").read_text())["params"] == best.params
    assert "## Best trial" in result.report_md.read_text(encoding="utf-8")

    # keep: best -> only the best trial keeps weights; every trial keeps its metrics and config
    for row in result.trials:
        folder = Path(row.output)
        assert (folder / "metrics.jsonl").is_file() and (folder / "train_config.yaml").is_file()
        assert (folder / "adapter_model.safetensors").exists() == (row.number == best.number)
        assert (folder / "checkpoints").exists() == (row.number == best.number)

    # resume: the finished trials count toward the 3 asked, so one more runs
    again = tune(path, overrides={"trials": 3})
    assert [row.number for row in again.trials] == [0, 1, 2]
    assert [row.params for row in again.trials[:2]] == [row.params for row in result.trials]
    assert again.trials[2].params != again.trials[0].params  # a resumed sampler does not repeat the first draws
    assert again.trials[2].state == "complete"
    with again.trials_csv.open(encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == 3
    assert len(tune(path, overrides={"trials": 3}).trials) == 3  # nothing left to run

    # the same output with another search is refused, not mixed in
    with pytest.raises(ConfigError, match=r"holds another search \(different metric\)"):
        tune(path, overrides={"metric": "eval_perplexity", "trials": 4})


def test_a_pruned_trial_stops_training_early(sft_data, tiny_llama_dir, tmp_path):
    import optuna

    path = write_pipeline(tmp_path, sft_data, tiny_llama_dir, {"trials": 1, "space": SPACE}, train={"max_steps": 4})
    # prunes at the first report: any eval_loss is above 0
    result = tune(path, pruner=optuna.pruners.ThresholdPruner(upper=0.0))

    (row,) = result.trials
    assert row.state == "pruned" and row.last_step == 1 and row.value > 0
    logged = [json.loads(line) for line in (Path(row.output) / "metrics.jsonl").read_text().splitlines()]
    assert max(entry["step"] for entry in logged) == 1  # stopped at step 1 of 4
    assert result.best is None and result.best_pipeline is None
    assert "pruned at step 1" in result.report_md.read_text(encoding="utf-8")


def test_median_pruner_from_config(sft_data, tiny_llama_dir, tmp_path):
    """A trial that learns nothing (tiny lr) is pruned against a first one that does, by the configured pruner."""
    import optuna

    tune_section = {"trials": 2, "space": {"lr": {"choices": [5.0e-2, 1.0e-9]}}, "sampler": "random",
                    "pruner": {"kind": "median", "n_startup_trials": 1}}
    path = write_pipeline(tmp_path, sft_data, tiny_llama_dir, tune_section, train={"max_steps": 4})
    study_db = tmp_path / "model-tune" / "study.db"
    study_db.parent.mkdir()
    study = optuna.create_study(storage=f"sqlite:///{study_db}", study_name="antrenor-tune")
    study.enqueue_trial({"lr": 5.0e-2})
    study.enqueue_trial({"lr": 1.0e-9})
    result = tune(path)
    assert [row.state for row in result.trials] == ["complete", "pruned"]
    assert result.trials[1].last_step < 4  # stopped before the last of its 4 steps


def test_a_diverged_trial_fails_and_another_one_replaces_it(sft_data, tiny_llama_dir, tmp_path, monkeypatch):
    import antrenor.training.run
    from antrenor.training.run import TrainResult
    from antrenor.training.trainer import NonFiniteLoss

    def fake_train(cfg, reporter, callbacks=()):
        if cfg.output.endswith("trial-0"):
            raise NonFiniteLoss("the loss became nan at step 2; training stopped")
        return TrainResult(Path(cfg.output), "completed", 1, 1, {"eval_loss": cfg.lr})

    monkeypatch.setattr(antrenor.training.run, "train", fake_train)
    path = write_pipeline(tmp_path, sft_data, tiny_llama_dir, {"trials": 2, "space": SPACE})
    result = tune(path)
    assert [row.state for row in result.trials] == ["fail", "complete", "complete"]
    assert result.status == "completed" and result.best.value == result.best.params["lr"]
    assert "the loss became nan" in result.trials[0].user_attrs["error"]


def test_config_errors_are_reported_together_before_any_model_loads(sft_data, tmp_path, monkeypatch):
    import antrenor.training.run

    monkeypatch.setattr(antrenor.training.run, "train", lambda *a, **k: pytest.fail("a trial started"))
    space = {"lrr": {"low": 1e-4, "high": 1e-3}, "warmup_ratio": {"low": 0.2, "high": 0.1},
             "lora.r": {"low": 2.5, "high": 8}, "weight_decay": {"low": 0.0, "high": 0.1, "log": True},
             "lora": {"choices": [1]}}
    path = write_pipeline(tmp_path, sft_data, tmp_path / "no-model", {"trials": 2, "space": space})
    with pytest.raises(ConfigError) as error:
        tune(path)
    shown = str(error.value)
    assert "space.warmup_ratio: Value error, low 0.2 must be below high 0.1" in shown
    assert "space.weight_decay: Value error, log: true needs low > 0" in shown
    assert "'lrr' is not a train key (did you mean 'lr'?)" in shown
    # the space's shape errors do not hide the train section's: the model folder is missing
    assert "unknown model" in shown

    space = {"lrr": {"low": 1e-4, "high": 1e-3}, "lora.r": {"low": 2.5, "high": 8}, "lora": {"choices": [1]}}
    path = write_pipeline(tmp_path, sft_data, tmp_path / "no-model", {"trials": 2, "space": space})
    with pytest.raises(ConfigError) as error:
        tune(path)
    shown = str(error.value)
    assert "'lrr' is not a train key (did you mean 'lr'?)" in shown
    assert "lora.r takes whole numbers; low 2.5 is not one" in shown
    assert "lora is a section" in shown
    assert not (tmp_path / "model-tune").exists()


def test_trial_configs_are_validated_with_every_value(sft_data, tiny_llama_dir, tmp_path):
    space = {"effective_batch_size": {"choices": [8, 12]}, "batch_size": {"low": 2, "high": 4}}  # 3 does not divide 8
    path = write_pipeline(tmp_path, sft_data, tiny_llama_dir, {"trials": 2, "space": space},
                          train={"task": "classification"})
    with pytest.raises(ConfigError) as error:
        tune(path)
    shown = str(error.value)
    assert "a trial with effective_batch_size=8, batch_size=3 would not train" in shown
    assert "task classification needs classification or pairs records" in shown  # train's own checks, too


def test_no_validation_split_is_a_clear_error(tmp_path_factory, tiny_llama_dir, tmp_path):
    from tests.conftest import prepared

    rows = [{"instruction": f"w{i} w{i + 1}", "output": f"w{i % 5}"} for i in range(20)]
    data = prepared(tmp_path_factory, "no-validation", rows)
    (data / "validation.jsonl").write_text("", encoding="utf-8")
    path = write_pipeline(tmp_path, data, tiny_llama_dir, {"trials": 1})
    with pytest.raises(ConfigError, match="has no validation split.*split.validation"):
        tune(path)


def test_default_space_and_metric_follow_the_task(classification_data, tiny_bert_dir, tmp_path):
    from antrenor.tuning.plan import plan_search

    path = write_pipeline(tmp_path, classification_data, tiny_bert_dir, {},
                          train={"task": "classification", "method": "full", "lr": 2.0e-4})
    plan = plan_search(path)
    assert plan.metric == "eval_accuracy" and plan.direction == "maximize"
    assert list(plan.space) == ["lr", "warmup_ratio", "weight_decay"]  # no lora keys for full fine-tuning
    assert plan.space["lr"].low == pytest.approx(5e-5) and plan.space["lr"].high == pytest.approx(8e-4)
    assert plan.output == tmp_path / "model-tune"

    with pytest.raises(ConfigError, match="eval_perplexity is not reported for task classification"):
        plan_search(path, overrides={"metric": "perplexity"})
