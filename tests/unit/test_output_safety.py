"""Output folders (docs/output-folders.md): antrenor never deletes or overwrites what it did not write,
inputs and outputs never overlap, and a disk that cannot be written is named as what it is (issue 19)."""

from __future__ import annotations

import errno
import json
import sqlite3

import pytest

from antrenor import export, prepare, train
from antrenor.cli import main
from antrenor.errors import ConfigError, EnvironmentProblem
from antrenor.reporting import output_folder
from antrenor.reporting.output_folder import MARKER, OutputFolder, check_output, check_writable, read_marker
from tests.conftest import write_jsonl


def _rows(tag: str, count: int = 30) -> list[dict]:
    return [{"text": f"{tag} text number w{i} about w{i % 3} and more", "label": f"{tag}{i % 3}"} for i in range(count)]


def _prepare_cli(*args: str) -> int:
    return main(["prepare", "--quiet", "--set", "dedup.near=false", *args])


@pytest.fixture()
def inputs(tmp_path):
    return write_jsonl(tmp_path / "a.jsonl", _rows("a")), write_jsonl(tmp_path / "b.jsonl", _rows("b"))


# -- case 2: inputs and outputs may not overlap ----------------------------------------------------
def test_prepare_refuses_an_output_that_is_inside_or_holds_its_input(tmp_path, inputs, capsys):
    folder = tmp_path / "F"
    folder.mkdir()
    (folder / "a.jsonl").write_bytes(inputs[0].read_bytes())
    before = sorted(p.name for p in folder.iterdir())
    assert _prepare_cli("--input", str(folder), "--output", str(folder)) == 2
    assert f"output {folder} is also an input of this run" in capsys.readouterr().err
    assert _prepare_cli("--input", str(folder), "--output", str(folder / "out")) == 2
    assert f"lies inside the input {folder}" in capsys.readouterr().err
    assert _prepare_cli("--input", str(folder / "a.jsonl"), "--output", str(folder)) == 2
    assert f"holds the input {folder / 'a.jsonl'}" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing was written


def test_train_refuses_its_data_folder_as_output_before_any_work(tmp_path, classification_data, tiny_bert_dir):
    manifest = (classification_data / "manifest.json").read_bytes()
    with pytest.raises(ConfigError, match="is also an input of this run"):
        train({"data": str(classification_data), "model": str(tiny_bert_dir), "task": "classification",
               "output": str(classification_data), "max_steps": 1, "report_to": []})
    assert (classification_data / "manifest.json").read_bytes() == manifest
    with pytest.raises(ConfigError, match="lies inside the input"):
        train({"data": str(classification_data), "model": str(tiny_bert_dir), "task": "classification",
               "output": str(tiny_bert_dir / "tuned"), "max_steps": 1, "report_to": []})
    assert not (tiny_bert_dir / "tuned").exists()


def test_eval_and_monitor_refuse_an_output_that_is_their_data(classification_data):
    from antrenor.evaluation.config import EvalConfig
    from antrenor.evaluation.run import check_before_work as eval_check
    from antrenor.monitoring.config import MonitorConfig
    from antrenor.monitoring.run import check_before_work as monitor_check

    with pytest.raises(ConfigError, match="is also an input of this run"):
        eval_check(EvalConfig(data=str(classification_data), output=str(classification_data), models=["m"], base="none"))
    log = classification_data / "requests.db"  # a log inside the output: refused as "holds the input"
    sqlite3.connect(log).close()
    try:
        with pytest.raises(ConfigError, match="holds the input"):
            monitor_check(MonitorConfig(log=str(log), reference=str(classification_data),
                                        output=str(classification_data), signals=["length"]))
    finally:
        log.unlink()


# -- case 3: another input's results are not overwritten silently ------------------------------------
def test_prepare_of_another_input_into_the_same_folder_is_refused_unless_overwrite(tmp_path, inputs, capsys):
    first, second = inputs
    out = tmp_path / "P"
    assert _prepare_cli("--input", str(first), "--output", str(out)) == 0
    marker = read_marker(out)
    assert marker["stage"] == "prepare" and marker["inputs"] == [str(first.resolve())] and "finished" in marker
    assert "train.jsonl" in marker["files"] and "manifest.json" in marker["files"]
    assert _prepare_cli("--input", str(first), "--output", str(out), "--seed", "7") == 0  # a re-run: allowed
    train_rows = (out / "train.jsonl").read_text()

    assert _prepare_cli("--input", str(second), "--output", str(out)) == 2
    err = capsys.readouterr().err
    assert f"output {out} holds the prepare results of other inputs ({first.resolve()}" in err and "--overwrite" in err
    assert (out / "train.jsonl").read_text() == train_rows  # untouched

    assert _prepare_cli("--input", str(second), "--output", str(out), "--overwrite") == 0
    assert read_marker(out)["inputs"] == [str(second.resolve())]
    assert "b0" in (out / "train.jsonl").read_text()


def test_prepare_refuses_another_stages_folder_and_files_antrenor_did_not_write(tmp_path, inputs, capsys):
    trained = tmp_path / "model"
    trained.mkdir()
    (trained / MARKER).write_text(json.dumps({"stage": "train", "inputs": [], "files": []}))
    assert _prepare_cli("--input", str(inputs[0]), "--output", str(trained)) == 2
    assert f"output {trained} holds the results of `antrenor train`" in capsys.readouterr().err

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "train.jsonl").write_text("my own data\n")
    assert _prepare_cli("--input", str(inputs[0]), "--output", str(mine)) == 2
    assert f"output {mine} is not empty and antrenor did not write it (train.jsonl)" in capsys.readouterr().err
    assert (mine / "train.jsonl").read_text() == "my own data\n"

    (mine / "notes.txt").write_text("keep me")  # with --overwrite: only prepare's own files are written
    assert _prepare_cli("--input", str(inputs[0]), "--output", str(mine), "--overwrite") == 0
    assert (mine / "notes.txt").read_text() == "keep me" and "notes.txt" not in read_marker(mine)["files"]


def test_an_older_antrenor_output_of_the_same_stage_is_still_rerun(tmp_path, inputs):
    out = tmp_path / "old"
    out.mkdir()
    (out / "prepare_config.yaml").write_text("prepare: {}\n")  # what antrenor left before it wrote markers
    assert check_output(out, "prepare", [inputs[0]]) == []
    assert "`antrenor prepare`" in check_output(out, "train", [inputs[0]])[0]


# -- case 1: re-export keeps what it did not write ----------------------------------------------------
@pytest.fixture(scope="module")
def trained_classifier(tmp_path_factory, classification_data, tiny_bert_dir):
    output = tmp_path_factory.mktemp("safety") / "model"
    train({"data": str(classification_data), "model": str(tiny_bert_dir), "task": "classification", "method": "full",
           "output": str(output), "max_steps": 1, "report_to": [], "head_init": "random"})
    return output


def test_reexport_never_deletes_a_request_log_inside_the_export(tmp_path, trained_classifier, capsys):
    out = tmp_path / "E"
    export({"model": str(trained_classifier), "output": str(out)})
    assert read_marker(out)["stage"] == "export" and "model.safetensors" in read_marker(out)["files"]
    with sqlite3.connect(out / "requests.db") as db:  # what serve's old default log left inside the folder
        db.execute("create table requests (id integer)")
        db.executemany("insert into requests values (?)", [(i,) for i in range(10)])
    code = main(["export", "--quiet", "--model", str(trained_classifier), "--output", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and f"output {out} holds files antrenor did not write there (requests.db)" in err
    assert f"{out}.requests.db" in err
    with sqlite3.connect(out / "requests.db") as db:
        assert db.execute("select count(*) from requests").fetchone()[0] == 10
    # --overwrite does not delete them either
    assert main(["export", "--quiet", "--model", str(trained_classifier), "--output", str(out), "--overwrite"]) == 2
    assert (out / "requests.db").is_file()

    (out / "requests.db").rename(tmp_path / "E.requests.db")
    export({"model": str(trained_classifier), "output": str(out)})  # the same export again: replaces its own folder
    assert (out / "model.safetensors").is_file() and not (out / "requests.db").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["E", "E.requests.db"]  # no .partial or old folder left


def test_export_removes_a_stale_partial_only_when_its_marker_says_antrenor_wrote_it(tmp_path, trained_classifier,
                                                                                     capsys):
    out, staging = tmp_path / "E", tmp_path / "E.partial"
    staging.mkdir()
    (staging / "draft.txt").write_text("mine")
    code = main(["export", "--quiet", "--model", str(trained_classifier), "--output", str(out)])
    assert code == 2 and f"{staging} exists and antrenor did not write it" in capsys.readouterr().err
    assert (staging / "draft.txt").read_text() == "mine" and not out.exists()

    (staging / "draft.txt").unlink()
    (staging / MARKER).write_text(json.dumps({"stage": "export", "inputs": [], "started": "then", "files": []}))
    (staging / "model.safetensors").write_bytes(b"half")  # a crashed export
    assert main(["export", "--model", str(trained_classifier), "--output", str(out)]) == 0
    err = "".join(capsys.readouterr().err.split())  # the console wraps long paths, even mid-word
    assert "".join(f"removed {staging}: an export that did not finish left it there".split()) in err
    assert not staging.exists() and (out / "export.json").is_file()


def test_export_refuses_another_stages_folder_and_its_input(tmp_path, trained_classifier, classification_data):
    with pytest.raises(ConfigError, match="holds the results of `antrenor prepare`"):
        export({"model": str(trained_classifier), "output": str(classification_data)})
    with pytest.raises(ConfigError, match="is also an input of this run"):
        export({"model": str(trained_classifier), "output": str(trained_classifier)})


def test_serve_keeps_its_default_request_log_beside_the_served_folder(tmp_path):
    from antrenor.serve.config import ServeConfig

    assert ServeConfig(model=str(tmp_path / "E")).log_path == tmp_path / "E.requests.db"
    assert ServeConfig(model=str(tmp_path / "E" / "model.int8.onnx"), backend="onnx").log_path == tmp_path / "E.requests.db"
    assert ServeConfig(model=str(tmp_path / "E"), log_db=str(tmp_path / "log.db")).log_path == tmp_path / "log.db"


# -- case 9: a failed run leaves no empty folder ------------------------------------------------------
def test_a_train_on_a_folder_that_is_not_a_model_leaves_no_output_folder(tmp_path, classification_data, monkeypatch):
    not_a_model = tmp_path / "not-a-model"
    not_a_model.mkdir()
    (not_a_model / "config.json").write_text("{}")
    out = tmp_path / "runs" / "model"
    opened = []
    original = OutputFolder.open
    monkeypatch.setattr(OutputFolder, "open", lambda self: (opened.append(self.path), original(self)))
    with pytest.raises(Exception):  # noqa: B017 - whichever error loading raises, the folder must go
        train({"data": str(classification_data), "model": str(not_a_model), "task": "classification",
               "output": str(out), "max_steps": 1, "report_to": []})
    assert opened == [out]  # the run got as far as making its folder
    assert not (tmp_path / "runs").exists()


def test_a_failed_run_removes_only_what_it_created(tmp_path):
    given = tmp_path / "given"
    given.mkdir()
    with pytest.raises(RuntimeError), OutputFolder(given / "a" / "b", "train", []):
        raise RuntimeError("failed")
    assert given.is_dir() and list(given.iterdir()) == []
    (given / "notes.txt").write_text("x")
    with pytest.raises(RuntimeError), OutputFolder(given, "train", []):
        raise RuntimeError("failed")
    assert sorted(p.name for p in given.iterdir()) == ["notes.txt"]  # as it was: no marker of a run that wrote nothing
    assert (given / "notes.txt").read_text() == "x"
    earlier = {"stage": "prepare", "inputs": ["x"], "started": "then", "finished": "then", "files": []}
    (given / MARKER).write_text(json.dumps(earlier))
    with pytest.raises(RuntimeError), OutputFolder(given, "prepare", ["x"]):
        raise RuntimeError("failed")
    assert read_marker(given) == earlier  # the earlier complete run's marker is back
    with pytest.raises(RuntimeError), OutputFolder(tmp_path / "kept", "train", []) as folder:
        (folder.path / "checkpoint").write_text("resume from me")
        raise RuntimeError("failed")
    assert (tmp_path / "kept" / "checkpoint").is_file()  # work to resume from stays, marked unfinished
    assert read_marker(tmp_path / "kept")["stage"] == "train" and "finished" not in read_marker(tmp_path / "kept")


# -- case 8: environment problems are named, before the work -------------------------------------------
def test_a_read_only_output_is_named_before_the_work(tmp_path, inputs, monkeypatch, capsys):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / "x"))

    monkeypatch.setattr(output_folder.tempfile, "mkstemp", read_only)
    with pytest.raises(EnvironmentProblem, match="read-only"):
        check_writable(tmp_path / "out")
    read = []
    monkeypatch.setattr("antrenor.data.prepare.PrepareRun.read_and_validate", lambda self, files: read.append(1))
    assert _prepare_cli("--input", str(inputs[0]), "--output", str(tmp_path / "out")) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'out'}: the file system is read-only" in err and "writable disk" in err
    assert "internal error" not in err and read == []  # stopped before reading the data


@pytest.mark.parametrize("code, words", [(errno.ENOSPC, "the disk is full"), (errno.EACCES, "permission denied"),
                                         (errno.EDQUOT, "the disk quota is used up")])
def test_an_environment_error_during_the_work_is_not_called_a_bug(tmp_path, inputs, monkeypatch, capsys, code, words):
    def fails(cfg, reporter):
        raise OSError(code, "os message", str(tmp_path / "out" / "train.jsonl"))

    monkeypatch.setattr("antrenor.data.prepare.prepare", fails)
    assert _prepare_cli("--input", str(inputs[0]), "--output", str(tmp_path / "out")) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'out' / 'train.jsonl'}: {words}" in err and "internal error" not in err


def test_other_os_errors_are_still_reported_as_internal(tmp_path, inputs, monkeypatch, capsys):
    def fails(cfg, reporter):
        raise OSError(errno.EBADF, "Bad file descriptor")

    monkeypatch.setattr("antrenor.data.prepare.prepare", fails)
    assert _prepare_cli("--input", str(inputs[0]), "--output", str(tmp_path / "out")) == 1
    assert "internal error: OSError" in capsys.readouterr().err


# -- atomic writes -------------------------------------------------------------------------------------
def test_resolved_configs_are_written_atomically(tmp_path, monkeypatch):
    from antrenor.config import save_resolved_config
    from antrenor.data.config import PrepareConfig

    path = tmp_path / "prepare_config.yaml"
    path.write_text("the earlier config\n")

    def crash(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("pathlib.Path.write_text", crash)
    with pytest.raises(OSError):
        save_resolved_config(PrepareConfig(input=["a"], output="o"), path)
    monkeypatch.undo()
    assert path.read_text() == "the earlier config\n"  # never half a config


def test_only_a_folder_antrenor_made_for_that_stage_is_removed_whole(tmp_path):
    from antrenor.reporting.output_folder import remove_own_folder

    for name, files in {"marked": {MARKER: json.dumps({"stage": "train"}), "model.safetensors": "w"},
                        "older": {"train_config.yaml": "train: {}", "model.safetensors": "w"},
                        "other-stage": {MARKER: json.dumps({"stage": "prepare"})},
                        "yours": {"notes.txt": "x"}}.items():
        (tmp_path / name).mkdir()
        for file, text in files.items():
            (tmp_path / name / file).write_text(text)
    assert [remove_own_folder(tmp_path / n, "train") for n in ("marked", "older", "other-stage", "yours")] == \
        [True, True, False, False]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other-stage", "yours"]
