"""Scale-out: the accelerate launch command, launch checks, DeepSpeed/FSDP validation and pass-through."""

import json

import pytest
import torch
import yaml

from antrenor.config import load_config
from antrenor.console import Reporter
from antrenor.errors import ConfigError
from antrenor.training import launch, run, trainer_setup
from antrenor.training.collate import PaddedCollator
from antrenor.training.config import TrainConfig
from antrenor.training.launch import LaunchOptions, accelerate_command, check_launch
from antrenor.training.tasks import TaskSetup
from tests.conftest import REPO

SCALE_OUT = REPO / "examples" / "scale-out"
ACCELERATE = ["accelerate", "launch"]


@pytest.fixture(autouse=True)
def not_launched(monkeypatch):
    """These tests run as a plain process, whatever launched pytest."""
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)


def config(tmp_path, **keys) -> TrainConfig:
    return TrainConfig(data=str(tmp_path / "data"), model="tiny", output=str(tmp_path / "out"), **keys)


# --- the launch command ---

@pytest.mark.parametrize("cpu", [True, False])
def test_several_processes_on_one_machine_use_the_torchrun_launcher_on_cpu_and_gpu(cpu):
    # accelerate's --cpu would start one process (its multi-CPU mode needs an MPI hostfile)
    command = accelerate_command(LaunchOptions(num_processes=2), ["--config", "c.yaml", "--quiet"], cpu=cpu,
                                 launcher=ACCELERATE)
    assert command == ["accelerate", "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                       "--mixed_precision", "no", "--dynamo_backend", "no",
                       "-m", "antrenor", "train", "--config", "c.yaml", "--quiet"]


@pytest.mark.parametrize("cpu,flag", [(True, ["--cpu"]), (False, [])])
def test_one_process_gets_cpu_only_without_a_gpu(cpu, flag):
    command = accelerate_command(LaunchOptions(num_processes=1), [], cpu=cpu, launcher=ACCELERATE)
    assert command[2:command.index("--num_processes")] == flag


def test_multi_machine_command_on_gpus():
    options = LaunchOptions(num_processes=16, num_machines=2, machine_rank=1, main_process_ip="10.0.0.1",
                            main_process_port=29500)
    command = accelerate_command(options, ["--config", "c.yaml"], cpu=False, launcher=["python", "-m", "accelerate.commands.launch"])
    assert command[:3] == ["python", "-m", "accelerate.commands.launch"]
    flags = command[3:command.index("-m", 3)]
    assert flags == ["--multi_gpu", "--num_processes", "16", "--num_machines", "2", "--machine_rank", "1",
                     "--main_process_ip", "10.0.0.1", "--main_process_port", "29500",
                     "--mixed_precision", "no", "--dynamo_backend", "no"]
    assert command[-4:] == ["antrenor", "train", "--config", "c.yaml"]


def test_an_accelerate_config_file_decides_what_is_not_given():
    command = accelerate_command(LaunchOptions(config_file="multi-gpu.yaml"), [], cpu=False, launcher=ACCELERATE)
    assert command[2:4] == ["--config_file", "multi-gpu.yaml"]
    assert "--num_processes" not in command and "--num_machines" not in command
    assert "--multi_gpu" not in command and "--cpu" not in command  # the file's distributed_type decides
    assert command[command.index("--mixed_precision") + 1] == "no"  # bf16 stays antrenor's decision


# --- launch checks ---

@pytest.mark.parametrize("options,expected", [
    (LaunchOptions(num_processes=0), "--num-processes must be at least 1, not 0"),
    (LaunchOptions(), "needs --num-processes N"),
    (LaunchOptions(num_processes=4, num_machines=2), "need --main-process-ip"),
    (LaunchOptions(num_processes=4, num_machines=2, machine_rank=2, main_process_ip="h"), "--machine-rank must be in 0..1"),
    (LaunchOptions(num_processes=1, num_machines=2, main_process_ip="h"), "cannot cover 2 machines"),
    (LaunchOptions(num_processes=2, main_process_port=70000), "must be a TCP port"),
    (LaunchOptions(num_processes=2, config_file="no-such.yaml"), "no-such.yaml: no such file"),
])
def test_bad_launch_flags_are_reported(options, expected):
    assert expected in " ".join(check_launch("accelerate", options))


def test_good_launch_flags_pass():
    assert check_launch("accelerate", LaunchOptions(num_processes=2)) == []
    assert check_launch("accelerate", LaunchOptions(num_processes=8, num_machines=2, machine_rank=1,
                                                    main_process_ip="10.0.0.1")) == []
    assert check_launch("none", LaunchOptions()) == []


def test_unknown_launcher_and_launch_flags_without_a_launcher_are_refused(capsys):
    assert check_launch("mpi", LaunchOptions()) == ["unknown launcher 'mpi': use none or accelerate"]
    assert "need --launcher accelerate" in check_launch("none", LaunchOptions(num_processes=2))[0]
    from antrenor.cli import main

    with pytest.raises(SystemExit) as caught:
        main(["train", "--launcher", "mpi"])
    assert caught.value.code == 2 and "invalid choice: 'mpi'" in capsys.readouterr().err


def test_launching_from_inside_a_launched_process_is_refused(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert "already started by a launcher" in check_launch("accelerate", LaunchOptions(num_processes=2))[0]


def test_missing_accelerate_is_reported_with_the_install_command(monkeypatch):
    monkeypatch.setattr(launch, "accelerate_launcher", lambda: None)
    assert check_launch("accelerate", LaunchOptions(num_processes=2)) == [
        "--launcher accelerate needs the accelerate package: pip install accelerate"]


def test_only_the_first_launched_process_reports(monkeypatch, capsys):
    asked = Reporter("rich")
    assert launch.process_reporter(asked) is asked
    monkeypatch.setenv("RANK", "1")
    other = launch.process_reporter(asked)
    other.info("step")
    other.warn("lr is high")
    other.emit_json({"a": 1})
    assert capsys.readouterr() == ("", "") and other.warnings == ["lr is high"]


# --- the CLI path: checks, the resolved config, --cpu, the exit code ---

@pytest.fixture
def captured_launch(monkeypatch):
    """Replace the process launch: record the command and the config the processes would read; exit code 3."""
    seen = {}

    def fake_run(command):
        seen["command"] = command
        seen["config"] = load_config(TrainConfig, command[command.index("--config") + 1])
        return 3

    monkeypatch.setattr(launch, "run_launcher", fake_run)
    return seen


@pytest.mark.parametrize("processes,gpu,device_flag", [(2, False, "--multi_gpu"), (1, False, "--cpu"), (1, True, None)])
def test_train_launcher_runs_the_resolved_config_and_returns_the_exit_code(sft_data, tiny_llama_dir, tmp_path,
                                                                           captured_launch, monkeypatch,
                                                                           processes, gpu, device_flag):
    from antrenor.cli import main

    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    code = main(["train", "--data", str(sft_data), "--model", str(tiny_llama_dir), "--output", str(tmp_path / "o"),
                 "--method", "full", "--set", "max_steps=3", "--quiet", "--launcher", "accelerate",
                 "--num-processes", str(processes)])
    assert code == 3
    command = captured_launch["command"]
    assert [flag for flag in ("--multi_gpu", "--cpu") if flag in command] == ([device_flag] if device_flag else [])
    assert command[command.index("--num_processes") + 1] == str(processes)
    assert command[command.index("-m"):][:2] == ["-m", "antrenor"] and command[-1] == "--quiet"
    assert "--launcher" not in command
    resolved = captured_launch["config"]
    assert (resolved.method, resolved.max_steps, resolved.model) == ("full", 3, str(tiny_llama_dir))


def test_launch_errors_come_before_any_process_starts(sft_data, tiny_llama_dir, tmp_path, captured_launch, capsys):
    from antrenor.cli import main

    base = ["train", "--data", str(sft_data), "--model", str(tiny_llama_dir), "--output", str(tmp_path / "o")]
    assert main([*base, "--launcher", "accelerate", "--num-processes", "0"]) == 2
    assert "--num-processes must be at least 1, not 0" in capsys.readouterr().err
    assert main([*base, "--num-processes", "2"]) == 2
    assert "need --launcher accelerate" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path), "--model", str(tiny_llama_dir), "--output", str(tmp_path / "o"),
                 "--launcher", "accelerate", "--num-processes", "2"]) == 2  # the config's own check, once
    assert "not an `antrenor prepare` output" in capsys.readouterr().err
    assert "command" not in captured_launch


# --- DeepSpeed / FSDP: validated before any model loads ---

@pytest.fixture
def no_model_load(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the config was checked")

    monkeypatch.setattr(run, "load_tokenizer", refuse)
    monkeypatch.setattr(run, "setup_task", refuse)


def train_problems(sft_data, tiny_llama_dir, tmp_path, **keys) -> str:
    with pytest.raises(ConfigError) as caught:
        run.train({"data": str(sft_data), "model": str(tiny_llama_dir), "output": str(tmp_path / "o"), **keys})
    return str(caught.value)


def test_deepspeed_file_problems_are_reported_before_model_load(sft_data, tiny_llama_dir, tmp_path, no_model_load):
    assert "deepspeed nope.json: no such file" in train_problems(sft_data, tiny_llama_dir, tmp_path, deepspeed="nope.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"zero_optimization": {"stage": 2,}}')
    assert f"deepspeed {broken}: not valid JSON" in train_problems(sft_data, tiny_llama_dir, tmp_path, deepspeed=str(broken))
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    assert "must hold an object of settings, not list" in train_problems(sft_data, tiny_llama_dir, tmp_path,
                                                                          deepspeed=str(listed))


def test_missing_deepspeed_package_gives_the_install_command(sft_data, tiny_llama_dir, tmp_path, no_model_load, monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "deepspeed" else real_find_spec(name, *a))
    problems = train_problems(sft_data, tiny_llama_dir, tmp_path, deepspeed=str(SCALE_OUT / "deepspeed-zero2.json"))
    assert "deepspeed needs the deepspeed package: pip install deepspeed" in problems
    assert "not valid JSON" not in problems and "no such file" not in problems


def test_fsdp_config_file_problems_are_reported_before_model_load(sft_data, tiny_llama_dir, tmp_path, no_model_load):
    bad = tmp_path / "fsdp.yaml"
    bad.write_text("version: [2\n")
    problems = train_problems(sft_data, tiny_llama_dir, tmp_path, fsdp="full_shard", fsdp_config=str(bad))
    assert f"fsdp_config {bad}: not valid YAML" in problems


@pytest.mark.parametrize("keys,expected", [
    ({"deepspeed": "ds.json", "fsdp": "full_shard"}, "deepspeed and fsdp both shard the model"),
    ({"fsdp": "full_shard auto_wrap", "method": "qlora"}, "fsdp cannot shard method qlora: FSDP flattens parameters"),
    ({"fsdp": "full_shard autowrap"}, "fsdp 'autowrap': unknown option"),
    ({"fsdp_config": "fsdp.json"}, "fsdp_config is read only with fsdp"),
])
def test_sharding_combinations_are_refused_by_the_config(tmp_path, keys, expected):
    with pytest.raises(ConfigError) as caught:
        load_config(TrainConfig, flags={"data": "d", "model": "m", "output": str(tmp_path), **keys})
    assert expected in str(caught.value)


def test_sharding_in_a_single_process_is_doubted(tmp_path, monkeypatch):
    doubts = config(tmp_path, fsdp="full_shard").doubts()
    assert any("fsdp in a single process shards nothing" in d for d in doubts)
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert not any("single process" in d for d in config(tmp_path, fsdp="full_shard").doubts())
    monkeypatch.delenv("WORLD_SIZE")
    assert not any("single process" in d for d in config(tmp_path).doubts())


# --- DeepSpeed / FSDP reach TrainingArguments ---

def tiny_task() -> TaskSetup:
    return TaskSetup(model=None, head="causal-lm", train_features=[{"input_ids": [1, 2]}] * 64,
                     eval_features=[{"input_ids": [1, 2]}] * 8, collator=PaddedCollator(1))


def test_fsdp_reaches_training_arguments(tmp_path, monkeypatch):
    monkeypatch.setenv("FSDP_CPU_RAM_EFFICIENT_LOADING", "false")  # TrainingArguments sets it: restore it after
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cfg = config(tmp_path, fsdp="full_shard auto_wrap", fsdp_config=str(SCALE_OUT / "fsdp.json"), report_to=[])
    reporter = Reporter("quiet")
    args = trainer_setup.training_arguments(cfg, tiny_task(), reporter)
    assert args.fsdp
    assert args.fsdp_config["state_dict_type"] == "FULL_STATE_DICT"
    assert args.fsdp_config["auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    assert args.deepspeed is None
    assert any(w.startswith("fsdp does nothing without a GPU") for w in reporter.warnings)


def test_plain_ddp_sets_neither_deepspeed_nor_fsdp(tmp_path):
    args = trainer_setup.training_arguments(config(tmp_path, report_to=[]), tiny_task(), Reporter("quiet"))
    assert not args.fsdp and args.deepspeed is None


def test_sharding_arguments_pass_deepspeed_and_read_yaml_fsdp_config(tmp_path):
    # TrainingArguments(deepspeed=...) needs the deepspeed package, absent here: the mapping is checked instead
    zero3 = str(SCALE_OUT / "deepspeed-zero3.json")
    assert trainer_setup.sharding_arguments(config(tmp_path, deepspeed=zero3)) == {"deepspeed": zero3}
    settings = tmp_path / "fsdp.yaml"
    settings.write_text("version: 2\ncpu_offload: true\n")
    assert trainer_setup.sharding_arguments(config(tmp_path, fsdp="full_shard", fsdp_config=str(settings))) == {
        "fsdp": "full_shard", "fsdp_config": {"version": 2, "cpu_offload": True}}
    assert trainer_setup.sharding_arguments(config(tmp_path)) == {}


# --- effective_batch_size is the global batch ---

@pytest.mark.parametrize("world,batch,expected", [(1, 4, 4), (2, 4, 2), (4, 4, 1), (2, None, 8)])
def test_effective_batch_size_is_split_across_processes(tmp_path, monkeypatch, world, batch, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("WORLD_SIZE", str(world))
    cfg = config(tmp_path, effective_batch_size=16, batch_size=batch)
    micro = trainer_setup.micro_batch_size(cfg)
    assert trainer_setup.accumulation_steps(cfg) == expected
    assert micro * world * expected == 16


def test_an_effective_batch_the_processes_cannot_share_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    with pytest.raises(ConfigError, match="effective_batch_size 8 is not a multiple of batch_size 4 x 4 processes"):
        trainer_setup.accumulation_steps(config(tmp_path, effective_batch_size=8, batch_size=4))


# --- the shipped scale-out examples ---

def test_deepspeed_examples_leave_batch_precision_and_schedule_to_antrenor():
    for name, stage in (("deepspeed-zero2.json", 2), ("deepspeed-zero3.json", 3)):
        settings = json.loads((SCALE_OUT / name).read_text())
        assert settings["zero_optimization"]["stage"] == stage
        for key in ("train_batch_size", "train_micro_batch_size_per_gpu", "gradient_accumulation_steps", "gradient_clipping"):
            assert settings[key] == "auto", (name, key)
        assert settings["bf16"]["enabled"] == "auto"
        assert "optimizer" not in settings and "scheduler" not in settings  # the Trainer's AdamW and lr schedule
    zero3 = json.loads((SCALE_OUT / "deepspeed-zero3.json").read_text())["zero_optimization"]
    assert zero3["stage3_gather_16bit_weights_on_model_save"] is True  # save_model writes a whole model


def test_accelerate_and_slurm_examples_say_what_they_should():
    from accelerate.commands.config.config_args import load_config_from_file

    cluster = load_config_from_file(str(SCALE_OUT / "accelerate-multi-gpu.yaml"))
    assert (cluster.distributed_type, cluster.num_machines, cluster.mixed_precision) == ("MULTI_GPU", 1, "no")
    assert yaml.safe_load((SCALE_OUT / "accelerate-multi-gpu.yaml").read_text())["num_processes"] >= 2
    sbatch = (SCALE_OUT / "slurm-train.sbatch").read_text()
    for needed in ("--launcher accelerate", '--num-machines "$SLURM_NNODES"', '--machine-rank "$SLURM_NODEID"',
                   "scontrol show hostnames", "srun"):
        assert needed in sbatch


@pytest.mark.parametrize("examples,processes,warned", [(6, 2, True), (16, 2, False), (48, 3, False), (6, 1, False)])
def test_an_uneven_validation_split_across_processes_is_explained(examples, processes, warned):
    message = trainer_setup.uneven_eval_split(examples, 8, processes)
    assert (message is not None) is warned
    if warned:
        assert message.startswith(f"{examples} validation examples do not split evenly into {processes} processes x batch 8")
