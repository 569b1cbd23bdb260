"""Training on tiny random models built from a config: which parameters move, resume, EWC, guards."""

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from antrenor import train
from antrenor.errors import ConfigError
from antrenor.training.checkpoint import is_complete, latest_complete_checkpoint

FAST = {"max_steps": 6, "batch_size": 4, "effective_batch_size": 8, "lr": 5e-3, "report_to": [], "bf16": False}


def run(data, model_dir, output, **overrides):
    return train({"data": str(data), "model": str(model_dir), "output": str(output), **FAST, **overrides})


def original_weights(model_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(model_dir / "model.safetensors"))


def test_full_fine_tuning_changes_every_parameter(sft_data, tiny_llama_dir, tmp_path):
    result = run(sft_data, tiny_llama_dir, tmp_path / "out", task="sft", method="full")
    before = original_weights(tiny_llama_dir)
    after = result.model.state_dict()
    assert result.trainable_parameters == result.total_parameters
    unchanged = [name for name, value in before.items() if torch.equal(value, after[name])]
    assert unchanged == []
    from transformers import AutoModelForCausalLM

    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "out")
    assert torch.equal(reloaded.state_dict()["model.norm.weight"], after["model.norm.weight"])


def test_lora_trains_only_the_adapter_and_leaves_base_weights_untouched(sft_data, tiny_llama_dir, tmp_path):
    result = run(sft_data, tiny_llama_dir, tmp_path / "out", task="sft", method="lora", lora={"r": 4, "alpha": 8})
    before = original_weights(tiny_llama_dir)
    model = result.model
    lora = {n: p for n, p in model.named_parameters() if "lora_" in n}
    assert lora and all(p.requires_grad for p in lora.values())
    assert all(not torch.all(p == 0) for n, p in lora.items() if "lora_B" in n)  # B starts at zero: it moved
    base = model.get_base_model().state_dict()
    for name, value in before.items():
        key = name.replace(".weight", ".base_layer.weight") if name.replace(".weight", ".base_layer.weight") in base else name
        assert torch.equal(value, base[key]), name
    assert 0 < result.trainable_parameters < result.total_parameters
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    reloaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_llama_dir), tmp_path / "out")
    ids = torch.tensor([[10, 11, 12, 13]])
    model.eval()
    assert torch.allclose(reloaded(ids).logits, model(input_ids=ids).logits, atol=1e-5)


@pytest.mark.parametrize("method", ["ia3", "prompt", "freeze"])
def test_other_methods_train_only_their_parameters(sft_data, tiny_llama_dir, tmp_path, method):
    result = run(sft_data, tiny_llama_dir, tmp_path / "out", task="sft", method=method, freeze={"top_layers": 1})
    model = result.model
    trainable = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and result.trainable_parameters < result.total_parameters
    before = original_weights(tiny_llama_dir)
    state = (model.get_base_model() if hasattr(model, "get_base_model") else model).state_dict()
    for name, value in before.items():
        key = name if name in state else name.replace(".weight", ".base_layer.weight")
        moved = not torch.equal(value, state[key])
        # freeze keeps the top layer and the (untied) output head trainable
        should_move = method == "freeze" and (name.startswith("model.layers.1.") or name == "lm_head.weight")
        assert moved == should_move, name
    if method == "freeze":
        assert (tmp_path / "out" / "model.safetensors").exists()
    else:
        assert (tmp_path / "out" / "adapter_config.json").exists()


def test_classification_single_label_saves_label_map(classification_data, tiny_bert_dir, tmp_path):
    result = run(classification_data, tiny_bert_dir, tmp_path / "out", task="classification", method="full",
                 max_steps=15, lr=3e-3)
    labels = json.loads((tmp_path / "out" / "labels.json").read_text())
    assert labels["id2label"] == {"0": "a", "1": "b", "2": "c"} and labels["num_labels"] == 3
    from transformers import AutoModelForSequenceClassification

    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "out")
    assert reloaded.config.id2label == {0: "a", 1: "b", 2: "c"}
    assert "eval_accuracy" in result.metrics and "eval_macro_f1" in result.metrics


def test_multilabel_classification_uses_sigmoid(tmp_path_factory, tiny_bert_dir, tmp_path):
    from tests.conftest import prepared

    rows = [{"text": f"w{i % 10} w{10 + i % 7} w50", "labels": ["x"] if i % 2 else ["x", "y"]} for i in range(40)]
    data = prepared(tmp_path_factory, "multi", rows)
    result = run(data, tiny_bert_dir, tmp_path / "out", task="classification", method="lora")
    assert result.model.config.problem_type == "multi_label_classification"
    assert "eval_micro_f1" in result.metrics


@pytest.mark.parametrize("task,fixture_model", [("clm", "tiny_llama_dir"), ("mlm", "tiny_bert_dir")])
def test_continued_pretraining(text_data, tmp_path, request, task, fixture_model):
    model_dir = request.getfixturevalue(fixture_model)
    result = run(text_data, model_dir, tmp_path / "out", task=task, method="full", max_length=16)
    assert result.status == "completed" and "eval_loss" in result.metrics
    if task == "clm":
        assert "eval_perplexity" in result.metrics


def test_resumed_run_equals_uninterrupted_run(sft_data, tiny_llama_dir, tmp_path):
    settings = dict(task="sft", method="lora", max_steps=8, save_steps=4, eval_steps=100)
    whole = run(sft_data, tiny_llama_dir, tmp_path / "whole", **settings)
    again = run(sft_data, tiny_llama_dir, tmp_path / "split", **settings)
    assert again.metrics["eval_loss"] == pytest.approx(whole.metrics["eval_loss"], abs=1e-6)  # deterministic
    # Pretend the second run died after step 4: drop its later checkpoint and resume.
    shutil.rmtree(tmp_path / "split" / "checkpoints" / "checkpoint-8")
    resumed = run(sft_data, tiny_llama_dir, tmp_path / "split", **settings, resume=True)
    assert resumed.metrics["train_loss"] != 0 and resumed.status == "completed"
    # it continued from step 4 and made only the 4 missing steps (a silent restart would start at 0 and run 8)
    assert (whole.metrics["started_at_step"], whole.metrics["steps_run"]) == (0, 8)
    assert (resumed.metrics["started_at_step"], resumed.metrics["steps_run"]) == (4, 4)
    manifest = json.loads((tmp_path / "split" / "manifest.json").read_text())
    assert manifest["metrics"]["started_at_step"] == 4
    assert abs(resumed.metrics["eval_loss"] - whole.metrics["eval_loss"]) < 1e-6


def test_partial_checkpoint_is_skipped(tmp_path):
    folder = tmp_path / "checkpoints"
    good, bad = folder / "checkpoint-4", folder / "checkpoint-8"
    for checkpoint in (good, bad):
        checkpoint.mkdir(parents=True)
        torch.save(OPTIMIZER_STATE, checkpoint / "optimizer.pt")
    from antrenor.training.checkpoint import mark_complete

    mark_complete(good, 4)
    mark_complete(bad, 8)
    (bad / "optimizer.pt").write_bytes((bad / "optimizer.pt").read_bytes()[:10])  # truncated after the marker
    assert is_complete(good) and not is_complete(bad)
    assert latest_complete_checkpoint(folder) == (good, [bad])


def _overwrite(path: Path, offset: int = 0, size: int = 64) -> None:
    """Corruption that keeps the size: `size` random bytes over the file at `offset` (seeded: the same bytes each run)."""
    import random

    with open(path, "r+b") as file:
        file.seek(offset)
        file.write(random.Random(f"{path.name}:{offset}").randbytes(size))


def _drop_hashes(checkpoint: Path) -> None:
    """Rewrite the checkpoint's marker as antrenor wrote it before content hashes: sizes only."""
    marker = json.loads((checkpoint / "antrenor_complete.json").read_text())
    del marker["sha256"]
    (checkpoint / "antrenor_complete.json").write_text(json.dumps(marker))


# what the Trainer saves, in small: files that load as a resume loads them
OPTIMIZER_STATE = {"state": {0: {"step": torch.tensor(4.0), "exp_avg": torch.ones(64)}}, "param_groups": [{"lr": 0.1}]}


def _saved_checkpoints(folder: Path, steps=(4, 8), marker: bool = True) -> list[Path]:
    import random

    import numpy as np
    from safetensors.torch import save_file

    from antrenor.training.checkpoint import mark_complete

    made = []
    for step in steps:
        checkpoint = folder / f"checkpoint-{step}"
        checkpoint.mkdir(parents=True)
        save_file({"weight": torch.arange(256, dtype=torch.float32)}, checkpoint / "model.safetensors")
        torch.save(OPTIMIZER_STATE, checkpoint / "optimizer.pt")
        torch.save({"python": random.getstate(), "numpy": np.random.get_state(), "cpu": torch.random.get_rng_state()},
                   checkpoint / "rng_state.pth")
        (checkpoint / "trainer_state.json").write_text(json.dumps({"global_step": step, "log_history": [
            {"loss": 1.0 / (i + 1), "step": i + 1} for i in range(step)]}))
        if marker:
            mark_complete(checkpoint, step)
        made.append(checkpoint)
    return made


@pytest.mark.parametrize("name, offset", [("model.safetensors", 0), ("optimizer.pt", 30)])
def test_a_checkpoint_changed_without_changing_size_is_skipped_with_the_reason(tmp_path, name, offset):
    from antrenor.training.checkpoint import resumable_checkpoint

    good, bad = _saved_checkpoints(tmp_path)
    marker = json.loads((good / "antrenor_complete.json").read_text())
    assert set(marker["sha256"]) == set(marker["files"]) == {"model.safetensors", "optimizer.pt", "rng_state.pth",
                                                              "trainer_state.json"}
    assert marker["files"]["optimizer.pt"] == (good / "optimizer.pt").stat().st_size
    _overwrite(bad / name, offset, 64)
    found, skipped = resumable_checkpoint(tmp_path)
    assert found.folder == good and found.hashed
    reason = f"{name} changed after it was saved (its sha256 differs from the marker's)"
    assert [(s.folder, s.problem) for s in skipped] == [(bad, reason)]


def test_checkpoints_without_hashes_are_checked_by_size(tmp_path):
    from antrenor.training.checkpoint import check_checkpoint

    (old,) = _saved_checkpoints(tmp_path, steps=(4,))
    _drop_hashes(old)
    size = (old / "model.safetensors").stat().st_size
    _overwrite(old / "model.safetensors", offset=size - 64)  # inside a tensor's data: only a hash would see it
    check = check_checkpoint(old)
    assert check.intact and not check.hashed
    (old / "optimizer.pt").write_bytes(b"x" * 10)
    size = json.loads((old / "antrenor_complete.json").read_text())["files"]["optimizer.pt"]
    assert check_checkpoint(old).problem == f"optimizer.pt has 10 bytes, its marker says {size}"
    (old / "antrenor_complete.json").write_text("{")
    assert "unreadable" in check_checkpoint(old).problem
    (old / "antrenor_complete.json").unlink()
    assert check_checkpoint(old).problem == "no completion marker: the save did not finish"


@pytest.mark.parametrize("name, offset, reason", [
    ("model.safetensors", 0, "SafetensorError: Error while deserializing header"),
    ("optimizer.pt", 0, "RuntimeError: "),  # the zip archive's first header
    ("optimizer.pt", 30, r"\w+Error: "),  # the pickled state: which check breaks depends on the bytes
    ("rng_state.pth", 0, "RuntimeError: "),
    ("trainer_state.json", 0, "(UnicodeDecodeError|JSONDecodeError): "),  # random bytes, rarely valid UTF-8
])
def test_an_old_marker_checkpoint_whose_file_does_not_load_is_skipped_naming_the_file(tmp_path, name, offset, reason):
    """A marker with sizes only cannot see 64 bytes changed in place; the load check does, before the Trainer."""
    from antrenor.training.checkpoint import resumable_checkpoint

    good, bad = _saved_checkpoints(tmp_path)
    for checkpoint in (good, bad):
        _drop_hashes(checkpoint)
    _overwrite(bad / name, offset, 64)
    found, skipped = resumable_checkpoint(tmp_path)
    assert found.folder == good and not found.hashed
    assert [s.folder for s in skipped] == [bad]
    assert re.match(rf"{re.escape(name)} cannot be loaded \({reason}", skipped[0].problem), skipped[0].problem


def test_a_checkpoint_saved_unloadable_is_skipped_even_when_its_hashes_match(tmp_path):
    from antrenor.training.checkpoint import check_checkpoint, mark_complete

    (saved,) = _saved_checkpoints(tmp_path, steps=(4,), marker=False)
    _overwrite(saved / "model.safetensors")
    mark_complete(saved, 4)  # the hashes are of the damaged file
    assert check_checkpoint(saved).problem.startswith("model.safetensors cannot be loaded (SafetensorError")


def test_resume_falls_back_from_a_corrupted_checkpoint_and_says_why(classification_data, tiny_bert_dir, tmp_path):
    from antrenor.console import Reporter

    settings = dict(task="classification", method="full", save_steps=1, eval_steps=100, keep_checkpoints=3,
                    batch_size=8, effective_batch_size=8)
    run(classification_data, tiny_bert_dir, tmp_path / "out", **settings, max_steps=2)
    _overwrite(tmp_path / "out" / "checkpoints" / "checkpoint-2" / "model.safetensors")  # the corruption
    warnings, infos = [], []
    reporter = Reporter("quiet")
    reporter.warn, reporter.info = warnings.append, infos.append
    resumed = train({"data": str(classification_data), "model": str(tiny_bert_dir), "output": str(tmp_path / "out"),
                     **FAST, **settings, "max_steps": 3, "resume": True}, reporter=reporter)
    assert resumed.status == "completed" and resumed.metrics["started_at_step"] == 1
    assert any("checkpoint-2: model.safetensors changed after it was saved" in w for w in warnings), warnings
    assert any("resuming from" in i and "checkpoint-1 (the newest intact checkpoint; 1 newer skipped)" in i
               for i in infos), infos


RESUME_SETTINGS = dict(task="classification", method="full", save_steps=1, eval_steps=100, keep_checkpoints=3,
                       batch_size=8, effective_batch_size=8)


@pytest.fixture(scope="module")
def old_marker_run(tmp_path_factory, classification_data, tiny_bert_dir):
    """A classifier's run with checkpoint-1 and checkpoint-2 whose markers hold sizes only (an older antrenor's)."""
    from antrenor.training.checkpoint import checkpoints

    output = tmp_path_factory.mktemp("old-markers") / "out"
    run(classification_data, tiny_bert_dir, output, **RESUME_SETTINGS, max_steps=2)
    for checkpoint in checkpoints(output / "checkpoints"):
        _drop_hashes(checkpoint)
    return output


def test_resume_from_an_old_marker_checkpoint_that_does_not_load_falls_back_naming_the_file(
        old_marker_run, classification_data, tiny_bert_dir, tmp_path):
    """Issue 19 case 7 with a sizes-only marker: the Trainer used to fail in its load ("internal error")."""
    from antrenor.console import Reporter

    out = shutil.copytree(old_marker_run, tmp_path / "out")
    _overwrite(out / "checkpoints" / "checkpoint-2" / "model.safetensors")  # 64 random bytes, same size
    warnings, infos = [], []
    reporter = Reporter("quiet")
    reporter.warn, reporter.info = warnings.append, infos.append
    resumed = train({"data": str(classification_data), "model": str(tiny_bert_dir), "output": str(out),
                     **FAST, **RESUME_SETTINGS, "max_steps": 3, "resume": True}, reporter=reporter)
    assert resumed.status == "completed" and resumed.metrics["started_at_step"] == 1
    assert f"skipping {out}/checkpoints/checkpoint-2: model.safetensors cannot be loaded (SafetensorError: " \
           "Error while deserializing header: header too large)" in warnings, warnings
    assert f"{out}/checkpoints/checkpoint-1 was saved by an older antrenor without content hashes: only its file " \
           "sizes were checked, and that its files load" in warnings
    assert f"resuming from {out}/checkpoints/checkpoint-1 (the newest intact checkpoint; 1 newer skipped)" in infos


def test_resume_with_no_checkpoint_that_loads_starts_from_the_beginning_with_a_warning(
        old_marker_run, classification_data, tiny_bert_dir, tmp_path, capsys, monkeypatch):
    from antrenor.cli import main

    monkeypatch.setenv("COLUMNS", "400")  # the terminal does not wrap the long paths
    out = shutil.copytree(old_marker_run, tmp_path / "out")
    for step in (1, 2):
        _overwrite(out / "checkpoints" / f"checkpoint-{step}" / "optimizer.pt")
    flags = [f"--set={key}={value}" for key, value in {**FAST, **RESUME_SETTINGS, "max_steps": 1}.items()
             if key not in ("report_to", "task", "method")]
    assert main(["train", "--data", str(classification_data), "--model", str(tiny_bert_dir), "--output", str(out),
                 "--task", "classification", "--method", "full", "--set", "report_to=[]", *flags, "--resume"]) == 0
    err = capsys.readouterr().err
    assert "internal error" not in err
    for step in (2, 1):
        assert f"checkpoint-{step}: optimizer.pt cannot be loaded (RuntimeError: not a PyTorch zip archive)" in err
    assert "--resume: no intact checkpoint found (2 skipped, above), starting from the beginning" in err
    assert json.loads((out / "manifest.json").read_text())["status"] == "completed"
    from antrenor.training.checkpoint import check_checkpoint

    assert check_checkpoint(out / "checkpoints" / "checkpoint-1").intact  # the damaged step 1 replaced by the new run's


def test_ewc_reduces_drift(sft_data, tiny_llama_dir, tmp_path):
    reference = tmp_path / "general.txt"
    reference.write_text("".join(" ".join(f"w{(i * 7 + j) % 100}" for j in range(12)) + "\n" for i in range(32)))

    def drift(result):
        before = original_weights(tiny_llama_dir)
        after = result.model.state_dict()
        return sum(float(((after[n] - v) ** 2).sum()) for n, v in before.items())

    settings = dict(task="sft", method="full", eval_steps=100, max_steps=15)
    plain = run(sft_data, tiny_llama_dir, tmp_path / "plain", **settings)
    anchored = run(sft_data, tiny_llama_dir, tmp_path / "ewc", **settings,
                   ewc={"weight": 1e6, "samples": 32, "reference": str(reference)})
    assert drift(anchored) < 0.5 * drift(plain)  # measured: 0.25 at this weight


def test_replay_mixes_reference_text_into_training(sft_data, tiny_llama_dir, tmp_path):
    result = run(sft_data, tiny_llama_dir, tmp_path / "out", task="sft", method="lora", replay={"fraction": 0.25})
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    plain = json.loads((sft_data / "manifest.json").read_text())["splits"]["train"]
    assert manifest["examples"]["train"] > plain
    assert result.status == "completed"


def test_non_finite_loss_stops_with_a_message_and_keeps_the_last_good_checkpoint(sft_data, tiny_llama_dir, tmp_path):
    from antrenor.errors import AntrenorError

    with pytest.raises(AntrenorError, match="loss became"):
        run(sft_data, tiny_llama_dir, tmp_path / "out", task="sft", method="full", lr=1e6, max_grad_norm=1e9,
            max_steps=30, save_steps=1, eval_steps=100)
    good, _ = latest_complete_checkpoint(tmp_path / "out" / "checkpoints")
    assert good is not None


def test_config_problems_are_reported_before_any_model_loads(text_data, tmp_path):
    with pytest.raises(ConfigError) as caught:
        train({"data": str(text_data), "model": "no-such-alias", "task": "sft", "output": str(tmp_path / "o")})
    problems = " ".join(caught.value.problems)
    assert "holds text records, but task sft needs" in problems and "unknown model 'no-such-alias'" in problems
    with pytest.raises(ConfigError, match="not an `antrenor prepare` output"):
        train({"data": str(tmp_path), "model": "minilm-l6", "task": "classification", "output": str(tmp_path / "o")})


def test_qlora_trains_adapters_over_a_frozen_4bit_base(sft_data, tiny_llama_dir, tmp_path):
    pytest.importorskip("bitsandbytes")
    import bitsandbytes as bnb

    result = run(sft_data, tiny_llama_dir, tmp_path / "out", task="sft", method="qlora", lora={"r": 4, "alpha": 8},
                 max_steps=8, eval_steps=100)
    model = result.model
    quantized = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert quantized and all(m.weight.dtype == torch.uint8 and not m.weight.requires_grad for m in quantized)
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert lora_b and all(p.requires_grad and not torch.all(p == 0) for p in lora_b)
    history = [json.loads(line) for line in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    losses = [h["loss"] for h in history if "loss" in h]
    assert all(map(lambda x: x == x and abs(x) < 1e4, losses)) and losses[-1] < losses[0]
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    reloaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_llama_dir), tmp_path / "out")
    assert reloaded(input_ids=torch.tensor([[10, 11, 12]])).logits.isfinite().all()


def test_lora_with_bf16_keeps_the_frozen_base_in_bf16_and_the_adapter_in_fp32(sft_data, tiny_llama_dir, tmp_path):
    result = run(sft_data, tiny_llama_dir, tmp_path / "out", task="sft", method="lora", bf16=True, eval_steps=100)
    dtypes = {name: p.dtype for name, p in result.model.named_parameters()}
    assert {d for n, d in dtypes.items() if "lora_" in n} == {torch.float32}
    assert {d for n, d in dtypes.items() if "lora_" not in n} == {torch.bfloat16}
    history = [json.loads(line) for line in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    assert all(h["loss"] == h["loss"] for h in history if "loss" in h)  # finite, not NaN


def test_full_fine_tuning_keeps_fp32_master_weights_for_a_model_stored_in_bf16(sft_data, tiny_llama_dir, tmp_path):
    """transformers loads weights in their stored dtype; trained weights in bf16 would round small updates away."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    stored = tmp_path / "bf16-model"
    AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.bfloat16).save_pretrained(stored)
    AutoTokenizer.from_pretrained(tiny_llama_dir).save_pretrained(stored)
    assert json.loads((stored / "config.json").read_text())["dtype"] == "bfloat16"
    result = run(sft_data, stored, tmp_path / "out", task="sft", method="full", bf16=True, eval_steps=100)
    assert {p.dtype for p in result.model.parameters()} == {torch.float32}


@pytest.mark.parametrize("method", ["full", "lora"])
def test_gradient_checkpointing_gives_the_same_training_as_without(sft_data, tiny_llama_dir, tmp_path, method):
    """Recomputing activations in the backward pass saves memory and must not change the result."""
    plain = run(sft_data, tiny_llama_dir, tmp_path / "plain", task="sft", method=method, max_steps=3)
    checkpointed = run(sft_data, tiny_llama_dir, tmp_path / "gc", task="sft", method=method, max_steps=3,
                       gradient_checkpointing=True)
    assert any(getattr(m, "gradient_checkpointing", False) is True for m in checkpointed.model.modules())
    assert not any(getattr(m, "gradient_checkpointing", False) is True for m in plain.model.modules())
    assert checkpointed.metrics["train_loss"] == pytest.approx(plain.metrics["train_loss"], abs=1e-5)
    for (name, a), b in zip(plain.model.state_dict().items(), checkpointed.model.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5), name


def test_compiled_training_matches_and_saves_plain_parameter_names(sft_data, tiny_llama_dir, tmp_path):
    """compile: true fuses the body's elementwise work; checkpoints and the output keep the plain model's names."""
    plain = run(sft_data, tiny_llama_dir, tmp_path / "plain", task="sft", method="lora", max_steps=2)
    compiled = run(sft_data, tiny_llama_dir, tmp_path / "compiled", task="sft", method="lora", max_steps=2, compile=True)
    assert compiled.metrics["train_loss"] == pytest.approx(plain.metrics["train_loss"], rel=1e-3)
    saved = load_file(str(tmp_path / "compiled" / "adapter_model.safetensors"))
    assert saved.keys() == load_file(str(tmp_path / "plain" / "adapter_model.safetensors")).keys()
    assert not any("_orig_mod" in name for name in saved)


def test_mlm_batches_where_no_token_was_masked_do_not_stop_training(tmp_path_factory, tiny_bert_dir, tmp_path):
    from tests.conftest import prepared

    # two-word texts, one per batch: 15 % masking leaves most batches with no masked token (loss 0/0)
    data = prepared(tmp_path_factory, "short-text", [{"text": f"w{i % 90} w{(i * 7) % 90}"} for i in range(40)])
    result = run(data, tiny_bert_dir, tmp_path / "out", task="mlm", method="full", lr=1e-4, batch_size=1,
                 effective_batch_size=1, max_steps=12, max_length=8, validation=False)
    assert result.status == "completed" and result.metrics["steps_run"] == 12
