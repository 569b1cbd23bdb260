"""Trainer callbacks: metrics.jsonl, a rich progress bar, Ctrl-C handling, checkpoint markers."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from antrenor.training.checkpoint import mark_complete


class MetricsFileCallback(TrainerCallback):
    """Every logged figure, one JSON object a line: the same numbers TensorBoard shows."""

    def __init__(self, path: Path):
        self.path = path

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and state.is_world_process_zero:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"step": state.global_step, "epoch": state.epoch, **logs}) + "\n")


class StepCountCallback(TrainerCallback):
    """The step training started at (the checkpoint's, when resuming) and how many optimizer steps this run made:
    the manifest records both, so a resume that silently restarted from step 0 shows."""

    def __init__(self):
        self.started_at_step, self.steps_run = 0, 0

    def on_train_begin(self, args, state, control, **kwargs):
        self.started_at_step = state.global_step  # the Trainer has loaded a resumed checkpoint's state by now

    def on_step_end(self, args, state, control, **kwargs):
        self.steps_run += 1

    def figures(self) -> dict[str, int]:
        return {"started_at_step": self.started_at_step, "steps_run": self.steps_run}


class ProgressCallback(TrainerCallback):
    """A rich progress bar with ETA, loss and tokens/s (replaces the Trainer's tqdm bar)."""

    def __init__(self, reporter: Any):
        self.reporter = reporter
        self._bar = None
        self._task = None

    def on_train_begin(self, args, state, control, **kwargs):
        if self.reporter.mode != "rich" or not state.is_world_process_zero:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(TextColumn("[bold]training"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                             TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[status]}"),
                             console=self.reporter.console)
        self._task = self._bar.add_task("train", total=state.max_steps, completed=state.global_step, status="")
        self._bar.start()

    def on_step_end(self, args, state, control, **kwargs):
        if self._bar is not None:
            self._bar.update(self._task, completed=state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self._bar is not None and logs:
            parts = [f"{k} {logs[k]:.4g}" for k in ("loss", "eval_loss", "tokens_per_second") if k in logs]
            self._bar.update(self._task, status=" ".join(parts))

    def on_train_end(self, args, state, control, **kwargs):
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


class InterruptCallback(TrainerCallback):
    """Ctrl-C: finish the current step, write a checkpoint, stop cleanly (resume with --resume)."""

    def __init__(self):
        self.interrupted = False
        self._previous = None

    def on_train_begin(self, args, state, control, **kwargs):
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: leave signals alone
            self._previous = None

    def _handle(self, signum, frame):
        if self.interrupted:  # a second Ctrl-C: give up at once
            raise KeyboardInterrupt
        self.interrupted = True

    def on_step_end(self, args, state, control, **kwargs):
        if self.interrupted:
            control.should_save = True
            control.should_training_stop = True

    def on_train_end(self, args, state, control, **kwargs):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


class CheckpointMarkerCallback(TrainerCallback):
    """Commit each checkpoint the Trainer finished writing (see checkpoint.py)."""

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if folder.is_dir():
                mark_complete(folder, state.global_step)
