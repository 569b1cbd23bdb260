"""`antrenor run` on tiny random models: every stage, cache hits, --force, resume after interruption, bad input."""

from __future__ import annotations

import json

import pytest
import yaml

from antrenor.cli import main
from antrenor.errors import ConfigError
from antrenor.pipeline import load_pipeline, run_pipeline
from antrenor.pipeline.starter import WHAT, starter_pipeline
from tests.conftest import REPO, write_jsonl


def _rows(count: int, offset: int = 0) -> list[dict]:
    return [{"instruction": f"w{(i * 7 + offset) % 90} w{(i * 3) % 90} w{i % 11}", "output": f"w{i % 7} w{i % 5} w3"}
            for i in range(count)]


def _pipeline(folder, model, max_steps: int = 2) -> dict:
    run = folder / "run"
    return {
        "prepare": {"input": [str(folder / "input.jsonl")], "output": str(run / "data"), "model": str(model),
                    "dedup": {"near": False}, "split": {"validation": 0.2, "test": 0.2}},
        "train": {"data": str(run / "data"), "model": str(model), "task": "sft", "method": "lora",
                  "output": str(run / "model"), "max_steps": max_steps, "batch_size": 4, "effective_batch_size": 4,
                  "save_steps": 1, "eval_steps": 100, "report_to": [], "bf16": False},
        "eval": {"models": [str(run / "model")], "data": str(run / "data"), "output": str(run / "eval"),
                 "suite": ["metrics"], "max_new_tokens": 4, "max_examples": 8},
        "export": {"model": str(run / "model"), "output": str(run / "export"), "eval": str(run / "eval")},
        "run": {"output": str(run)},
    }


def _write(folder, config) -> str:
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return str(path)


def _statuses(result) -> dict[str, str]:
    return {o.name: o.status for o in result.outcomes}


def test_run_caches_stages_and_force_reruns_a_stage_and_what_follows(tmp_path, tiny_llama_dir):
    write_jsonl(tmp_path / "input.jsonl", _rows(40))
    path = _write(tmp_path, _pipeline(tmp_path, tiny_llama_dir))

    first = run_pipeline(path)
    assert _statuses(first) == dict.fromkeys(["prepare", "train", "eval", "export"], "ran")
    verdicts = first.verdicts()  # the tuned model against its strongest baseline, from eval's metrics.json
    assert set(verdicts) == {"model"} and verdicts["model"]["metric"] == "rougeL"
    assert first.exit_code == (0 if verdicts["model"]["significant"] else 3)
    for name in ("data", "model", "eval", "export"):
        assert (tmp_path / "run" / name / "antrenor-stage.json").is_file(), name
    report = first.report_html.read_text()
    assert "data_report.html" in report and "eval_report.html" in report and "README.md" in report
    from antrenor.pipeline.report import held_out_examples

    headers, rows = held_out_examples(tmp_path / "run" / "eval" / "predictions.jsonl")
    assert headers[:3] == ["held-out input", "reference", "base"] and "model" in headers and len(rows) == 5
    assert "5 held-out examples, every model side by side" in report and rows[0][1] in report
    assert first.outcome("prepare").summary.startswith("instruction: train")
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(tmp_path / "run" / "export")  # the end product loads with transformers

    again = run_pipeline(path)
    assert _statuses(again) == dict.fromkeys(["prepare", "train", "eval", "export"], "cached")
    assert again.outcome("eval").summary == first.outcome("eval").summary  # remembered, shown again

    forced = run_pipeline(path, force=["train"])
    assert _statuses(forced) == {"prepare": "cached", "train": "ran", "eval": "ran", "export": "ran"}

    changed = run_pipeline(path, overrides=["eval.max_new_tokens=3"])  # a config change reruns that stage onwards
    assert _statuses(changed) == {"prepare": "cached", "train": "cached", "eval": "ran", "export": "ran"}

    write_jsonl(tmp_path / "input.jsonl", _rows(40, offset=1))  # new data content, same file name
    assert _statuses(run_pipeline(path)) == dict.fromkeys(["prepare", "train", "eval", "export"], "ran")


def test_an_interrupted_run_continues_where_it_stopped(tmp_path, tiny_llama_dir, monkeypatch):
    from antrenor.training.callbacks import InterruptCallback

    write_jsonl(tmp_path / "input.jsonl", _rows(40))
    path = _write(tmp_path, _pipeline(tmp_path, tiny_llama_dir, max_steps=6))

    def ctrl_c_at_step_3(self, args, state, control, **kwargs):  # what the SIGINT handler does, at a known step
        if state.global_step == 3:
            self.interrupted = True
        return original(self, args, state, control, **kwargs)

    original = InterruptCallback.on_step_end
    monkeypatch.setattr(InterruptCallback, "on_step_end", ctrl_c_at_step_3)
    stopped = run_pipeline(path)
    assert _statuses(stopped) == {"prepare": "ran", "train": "interrupted", "eval": "not run", "export": "not run"}
    assert stopped.exit_code == 130
    marker = json.loads((tmp_path / "run" / "model" / "antrenor-stage.json").read_text())
    assert marker["stage"] == "train" and "finished" not in marker and "key" not in marker  # whose, but not done
    assert "interrupted" in stopped.report_html.read_text()
    monkeypatch.setattr(InterruptCallback, "on_step_end", original)

    resumed = run_pipeline(path)
    assert _statuses(resumed) == {"prepare": "cached", "train": "ran", "eval": "ran", "export": "ran"}
    history = [json.loads(line) for line in (tmp_path / "run" / "model" / "metrics.jsonl").read_text().splitlines()]
    steps = [h["step"] for h in history if "loss" in h]
    assert steps == sorted(set(steps)) and steps[-1] == 6 and 3 in steps  # one run of 6 steps, continued after step 3
    manifest = json.loads((tmp_path / "run" / "model" / "manifest.json").read_text())
    assert manifest["status"] == "completed"


def test_a_stage_interrupted_outside_training_reruns_alone(tmp_path, tiny_llama_dir, monkeypatch):
    from antrenor.pipeline import stages

    write_jsonl(tmp_path / "input.jsonl", _rows(40))
    path = _write(tmp_path, _pipeline(tmp_path, tiny_llama_dir))
    original = stages._eval

    def interrupted(cfg, reporter):
        raise KeyboardInterrupt

    monkeypatch.setattr(stages, "_eval", interrupted)
    assert _statuses(run_pipeline(path))["eval"] == "interrupted"
    monkeypatch.setattr(stages, "_eval", original)
    assert _statuses(run_pipeline(path)) == {"prepare": "cached", "train": "cached", "eval": "ran", "export": "ran"}


def test_every_problem_in_the_pipeline_is_reported_before_any_stage_runs(tmp_path, tiny_llama_dir):
    config = _pipeline(tmp_path, tiny_llama_dir)
    config["train"]["epoch"] = 2  # typo
    config["trian"] = {}  # typo of a section
    config["eval"]["data"] = str(tmp_path / "nowhere")  # no stage writes it
    with pytest.raises(ConfigError) as error:
        load_pipeline(_write(tmp_path, config))
    text = str(error.value) + "\n".join(error.value.problems)
    assert "did you mean 'epochs'" in text and "did you mean 'train'" in text
    with pytest.raises(ConfigError) as link:
        load_pipeline(_write(tmp_path, {**_pipeline(tmp_path, tiny_llama_dir), "eval": config["eval"]}))
    assert any("eval.data" in p and "no earlier stage writes it" in p for p in link.value.problems)
    assert not (tmp_path / "run").exists()  # nothing ran

    path = _write(tmp_path, _pipeline(tmp_path, tiny_llama_dir))
    with pytest.raises(ConfigError, match="unknown stage"):
        run_pipeline(path, force=["evaluate"])
    with pytest.raises(ConfigError, match="name the section"):
        run_pipeline(path, overrides=["lr=1e-4"])
    assert main(["run", str(tmp_path / "missing.yaml")]) == 2


def test_a_failing_stage_is_recorded_and_reported(tmp_path, tiny_llama_dir, capsys):
    write_jsonl(tmp_path / "input.jsonl", [{"instruction": "w1", "output": "w2"}] * 3 + [{"bad": 1}])
    config = _pipeline(tmp_path, tiny_llama_dir)
    config["prepare"]["strict"] = True
    assert main(["run", _write(tmp_path, config), "--quiet"]) != 0
    assert "input.jsonl" in capsys.readouterr().err  # the file named in the error
    state = json.loads((tmp_path / "run" / "run_state.json").read_text())
    assert state["stages"]["prepare"]["status"] == "failed"
    assert "failed" in (tmp_path / "run" / "run_report.html").read_text()


@pytest.mark.parametrize("task", sorted(WHAT))
def test_init_writes_a_valid_commented_starter(tmp_path, task, monkeypatch):
    monkeypatch.chdir(REPO)  # the default data paths are the bundled demo data
    text = starter_pipeline(task)
    assert text.startswith("# antrenor pipeline") and "antrenor run" in text
    path = tmp_path / f"{task}.yaml"
    assert main(["init", "--task", task, "--output", str(path)]) == 0
    pipeline = load_pipeline(path)
    assert pipeline.planned() == ["prepare", "train", "eval", "export"]
    assert pipeline.stages["train"].task == task
    assert main(["init", "--task", task, "--output", str(path)]) == 2  # never overwrites without --force


def test_every_example_is_a_valid_pipeline(monkeypatch):
    monkeypatch.chdir(REPO)
    examples = sorted((REPO / "examples").glob("*.yaml"))
    assert examples
    for example in examples:
        pipeline = load_pipeline(example)
        assert pipeline.planned(), example


def test_run_exit_code_says_when_a_tuned_model_does_not_beat_its_strongest_baseline(tmp_path):
    import json

    from antrenor.pipeline.run import EXIT_NO_GAIN, RunResult, StageOutcome

    def result_with(significant: bool | None, eval_status: str = "ran") -> RunResult:
        folder = tmp_path / f"eval-{significant}-{eval_status}"
        folder.mkdir()
        entry = {"role": "tuned"}
        if significant is not None:
            entry["vs_strongest_baseline"] = {"significant": significant, "baseline": "base 4-shot"}
        (folder / "metrics.json").write_text(json.dumps({"models": {"base": {"role": "base"}, "tuned": entry}}))
        outcomes = [StageOutcome("train", "cached", 0.0, tmp_path), StageOutcome("eval", eval_status, 1.0, folder)]
        return RunResult(pipeline=None, outcomes=outcomes)

    assert EXIT_NO_GAIN == 3
    assert result_with(True).exit_code == 0
    assert result_with(False).exit_code == 3
    assert result_with(False, "cached").exit_code == 3  # a cached eval keeps its verdict
    assert result_with(None).exit_code == 0  # no baseline compared: nothing to judge
    assert result_with(False, "failed").exit_code == 1


def test_run_overwrite_lets_every_stage_write_into_folders_of_other_results_and_deletes_nothing(tmp_path, tiny_llama_dir,
                                                                                                 capsys):
    from antrenor import prepare

    write_jsonl(tmp_path / "input.jsonl", _rows(40))
    other = write_jsonl(tmp_path / "other.jsonl", _rows(40, offset=5))
    config = _pipeline(tmp_path, tiny_llama_dir)
    config["run"]["stages"] = ["prepare", "train"]
    data, model = tmp_path / "run" / "data", tmp_path / "run" / "model"
    prepare({**config["prepare"], "input": [str(other)]})  # data holds the prepare results of another input
    model.mkdir()
    for folder in (data, model):
        (folder / "notes.txt").write_text("mine")  # files antrenor did not write
    path = _write(tmp_path, config)
    other_rows = (data / "train.jsonl").read_text()

    assert main(["run", path, "--quiet"]) == 2
    assert f"output {data} holds the prepare results of other inputs ({other.resolve()}" in capsys.readouterr().err
    assert (data / "train.jsonl").read_text() == other_rows and not (model / "adapter_model.safetensors").exists()

    assert main(["run", path, "--quiet", "--overwrite"]) == 0
    assert json.loads((data / "antrenor-stage.json").read_text())["inputs"] == [str((tmp_path / "input.jsonl").resolve())]
    assert (data / "train.jsonl").read_text() != other_rows and (model / "adapter_model.safetensors").is_file()
    assert (data / "notes.txt").read_text() == "mine" and (model / "notes.txt").read_text() == "mine"
    assert yaml.safe_load((tmp_path / "run" / "pipeline.resolved.yaml").read_text())["run"]["overwrite"] is True
    assert load_pipeline(path, ["run.overwrite=true"]).stages["train"].overwrite  # the YAML key does the same
