"""Scale-out: run one `antrenor train` as several processes under `accelerate launch`.

Training code is the same for one process or many: the Hugging Face Trainer reads the launcher's
environment (WORLD_SIZE, RANK, the rendezvous address) and wraps the model in DDP, or in DeepSpeed or
FSDP when the train config asks for them. This module only starts those processes:
`antrenor train ... --launcher accelerate --num-processes N` resolves and checks the config once, then
runs `accelerate launch [flags] -m antrenor train --config <resolved config>` and returns its exit code.
Every process therefore trains from exactly the config the parent validated.

Mixed precision stays antrenor's own `bf16` setting (`--mixed_precision no` keeps accelerate from adding
its own). Several processes always go through accelerate's torchrun launcher (`--multi_gpu`): despite
the flag's name it also serves CPU-only machines, where the processes train with gloo because antrenor
sets `use_cpu` and `ddp_backend="gloo"`. accelerate's `--cpu` would start ONE process (its CPU
multi-process mode needs an MPI hostfile), so it is passed only for a single process without a GPU.

Example:
    >>> from antrenor.training.launch import LaunchOptions, accelerate_command
    >>> accelerate_command(LaunchOptions(num_processes=2), ["--config", "train.yaml"], cpu=True,
    ...                    launcher=["accelerate", "launch"])[:6]
    ['accelerate', 'launch', '--multi_gpu', '--num_processes', '2', '--num_machines']
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from antrenor.errors import ConfigError

if TYPE_CHECKING:
    from antrenor.console import Reporter
    from antrenor.training.config import TrainConfig

LAUNCHERS = ("none", "accelerate")


@dataclasses.dataclass(frozen=True)
class LaunchOptions:
    """accelerate launch settings. None means: not given (accelerate's default, or the --accelerate-config file's)."""

    num_processes: int | None = None  # in total, across all machines (accelerate's meaning): one per GPU
    num_machines: int | None = None
    machine_rank: int | None = None  # this machine's rank, 0 on the one at main_process_ip
    main_process_ip: str | None = None
    main_process_port: int | None = None
    config_file: str | None = None  # an accelerate config (accelerate config / examples/scale-out/)

    def given(self) -> bool:
        return any(value is not None for value in dataclasses.astuple(self))


def check_launch(launcher: str, options: LaunchOptions) -> list[str]:
    """Every problem with the launch flags, each with how to fix it."""
    if launcher not in LAUNCHERS:
        return [f"unknown launcher {launcher!r}: use {' or '.join(LAUNCHERS)}"]
    if launcher == "none":
        return ["--num-processes, --num-machines, --machine-rank, --main-process-ip/-port and --accelerate-config "
                "need --launcher accelerate"] if options.given() else []
    problems = []
    if "WORLD_SIZE" in os.environ:
        problems.append(f"this process was already started by a launcher (WORLD_SIZE={os.environ['WORLD_SIZE']}): "
                        "drop --launcher, or run antrenor train --launcher accelerate outside any launcher")
    if options.num_processes is None and options.config_file is None:
        problems.append("--launcher accelerate needs --num-processes N (or an --accelerate-config file that sets it)")
    if options.num_processes is not None and options.num_processes < 1:
        problems.append(f"--num-processes must be at least 1, not {options.num_processes}")
    if options.num_machines is not None and options.num_machines < 1:
        problems.append(f"--num-machines must be at least 1, not {options.num_machines}")
    machines = options.num_machines or 1
    if options.machine_rank is not None and not 0 <= options.machine_rank < machines:
        problems.append(f"--machine-rank must be in 0..{machines - 1} for {machines} machine(s), not {options.machine_rank}")
    if options.num_processes is not None and options.num_processes < machines:
        problems.append(f"--num-processes counts processes on all machines together: {options.num_processes} "
                        f"cannot cover {machines} machines")
    if machines > 1 and options.main_process_ip is None and options.config_file is None:
        problems.append("several machines need --main-process-ip: the address of the machine with --machine-rank 0")
    if options.main_process_port is not None and not 1 <= options.main_process_port <= 65535:
        problems.append(f"--main-process-port must be a TCP port (1..65535), not {options.main_process_port}")
    if options.config_file is not None and not Path(options.config_file).is_file():
        problems.append(f"--accelerate-config {options.config_file}: no such file (write one with `accelerate config`)")
    if accelerate_launcher() is None:
        problems.append("--launcher accelerate needs the accelerate package: pip install accelerate")
    return problems


def accelerate_launcher() -> list[str] | None:
    """`accelerate launch` of this interpreter's environment: the script beside sys.executable, else the module."""
    script = shutil.which("accelerate", path=os.path.dirname(sys.executable))
    if script is not None:
        return [script, "launch"]
    if importlib.util.find_spec("accelerate") is not None:
        return [sys.executable, "-m", "accelerate.commands.launch"]
    return None


def accelerate_command(options: LaunchOptions, train_args: Sequence[str], *, cpu: bool,
                       launcher: Sequence[str]) -> list[str]:
    """The `accelerate launch` command line that runs `antrenor train *train_args` as the processes `options` asks for.

    Flags left None are not passed, so an --accelerate-config file decides them (its distributed_type
    too); without such a file a single machine is assumed (stated, so accelerate does not warn about
    guessing it), and several processes use the torchrun launcher on GPUs and CPUs alike (module docstring).
    """
    command = list(launcher)
    if options.config_file is not None:
        command += ["--config_file", options.config_file]
    elif (options.num_processes or 1) > 1:
        command.append("--multi_gpu")
    elif cpu:
        command.append("--cpu")
    machines = options.num_machines if options.num_machines is not None or options.config_file else 1
    for flag, value in (("--num_processes", options.num_processes), ("--num_machines", machines),
                        ("--machine_rank", options.machine_rank), ("--main_process_ip", options.main_process_ip),
                        ("--main_process_port", options.main_process_port)):
        if value is not None:
            command += [flag, str(value)]
    # bf16 is antrenor's decision (TrainingArguments); accelerate adding its own autocast would double it
    command += ["--mixed_precision", "no", "--dynamo_backend", "no"]
    return [*command, "-m", "antrenor", "train", *train_args]


def launch_train(cfg: TrainConfig, launcher: str, options: LaunchOptions, output_flags: Sequence[str],
                 reporter: Reporter) -> int:
    """Check the launch and the config, then train in `options.num_processes` processes; their exit code."""
    problems = check_launch(launcher, options)
    if problems:
        raise ConfigError("cannot launch training:", problems=problems)
    from antrenor.config import save_resolved_config
    from antrenor.training.run import check_before_work

    check_before_work(cfg)  # once here, rather than N times after the processes start
    import torch

    with tempfile.TemporaryDirectory(prefix="antrenor-launch-") as folder:
        resolved = Path(folder) / "train_config.yaml"
        save_resolved_config(cfg, resolved)
        command = accelerate_command(options, ["--config", str(resolved), *output_flags],
                                     cpu=not torch.cuda.is_available(), launcher=accelerate_launcher() or [])
        reporter.info(f"launching: {shlex.join(command)}")
        return run_launcher(command)


def run_launcher(command: Sequence[str]) -> int:
    process = subprocess.Popen(list(command))
    try:
        return process.wait()
    except KeyboardInterrupt:
        # Ctrl-C reached the launched processes too: let them save their interrupt checkpoint and stop
        return process.wait()


def process_reporter(reporter: Reporter) -> Reporter:
    """The first (or only) process reports as asked. The others of a launch stay silent, warnings too: they
    would repeat the first's N times; their errors still reach stderr."""
    if int(os.environ.get("RANK", "0")) == 0:
        return reporter
    from antrenor.console import Reporter

    class SilentReporter(Reporter):
        def warn(self, message: str) -> None:
            self.warnings.append(message)

    return SilentReporter("quiet")
