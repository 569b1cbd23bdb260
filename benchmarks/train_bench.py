"""Training speed and memory of SmolLM2-135M-Instruct: antrenor's methods side by side with TRL's defaults.

What it prints, per configuration (each run in its own process, so peak RSS is its own):
real (non-padding) tokens per second over the timed steps, MFU against the matmul peak
measured in the same run (6*N FLOPs per token for full fine-tuning, 4*N for LoRA/QLoRA,
N = model parameters), peak RSS, the mean loss of the timed steps, and the loss on the answer
tokens of 32 held-out examples after training (the same function for every run).

Data: 128 Romanian legal title examples from data/demo (about 230 tokens each with the
chat template). Every configuration uses the same examples, 8 examples per optimizer step
and the same LoRA settings (r=16, alpha=32, all linear layers); the micro-batch is each
tool's default unless the configuration names one. The TRL run is SFTTrainer
with its defaults plus use_cpu=True (a CPU needs it), which is the peer baseline.

Targets (issue 3), as ratios from the same run: antrenor SFT-LoRA >= 3x the TRL tokens/s at
equal or lower loss with <= 25 % of its peak RSS; LoRA peak RSS <= 50 % of full; MFU >= 50 %.

    python benchmarks/train_bench.py                 # every configuration, 5 steps each, ~10 minutes
    python benchmarks/train_bench.py --configs antrenor-lora antrenor-full trl-default --steps 16  # one epoch
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = 128
CONFIGS = {  # name: TrainConfig keys ("trl" runs TRL's SFTTrainer instead); defaults otherwise
    "antrenor-full": {"method": "full"},
    "antrenor-lora": {"method": "lora"},
    "antrenor-lora-mb8": {"method": "lora", "batch_size": 8},
    "antrenor-lora-mb8-nopack": {"method": "lora", "batch_size": 8, "packing": False},
    "antrenor-lora-mb2": {"method": "lora", "batch_size": 2},
    "antrenor-lora-dropout": {"method": "lora", "lora": {"dropout": 0.05}},
    "antrenor-lora-gc": {"method": "lora", "gradient_checkpointing": True},
    "antrenor-lora-sdpa": {"method": "lora", "attn_implementation": "sdpa"},
    "antrenor-lora-eager": {"method": "lora", "attn_implementation": "eager"},
    "antrenor-full-sdpa": {"method": "full", "attn_implementation": "sdpa"},
    "antrenor-lora-compile": {"method": "lora", "compile": True},
    "antrenor-qlora": {"method": "qlora"},
    "trl-default": {"method": "trl"},
}
HELD_OUT = 32  # title examples after the training ones: the answer-only loss every run is judged on

def title_examples(held_out: bool = False) -> list[dict]:
    rows = [json.loads(line) for line in (REPO / "data/demo/legal-instructions/train.jsonl").read_text().splitlines()]
    titles = [r for r in rows if r["instruction"].startswith("Propune")]
    return titles[EXAMPLES : EXAMPLES + HELD_OUT] if held_out else titles[:EXAMPLES]


def held_out_answer_loss(model, tokenizer) -> float:
    """Mean loss on the answer tokens of the held-out examples, one at a time, the same for every run.

    TRL's default trains on prompt tokens too, and its logged loss includes them; this figure
    puts both on the same footing: what the model learned to answer."""
    import torch

    from antrenor.training.sft import build_features

    features, _ = build_features(title_examples(held_out=True), "instruction", tokenizer, max_length=512)
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        for feature in features:
            ids = torch.tensor([feature["input_ids"]])
            labels = torch.tensor([feature["labels"]])
            logits = model(input_ids=ids).logits[0, :-1].float()
            targets = labels[0, 1:]
            mask = targets != -100
            total += torch.nn.functional.cross_entropy(logits[mask], targets[mask], reduction="sum").item()
            count += int(mask.sum())
    return total / count


def matmul_peak(dtype_name: str) -> float:
    """FLOP/s of a 2048x2048 matmul on all threads: the hardware ceiling MFU is measured against."""
    import torch

    dtype = getattr(torch, dtype_name)
    a, b = torch.randn(2048, 2048, dtype=dtype), torch.randn(2048, 2048, dtype=dtype)
    for _ in range(3):
        a @ b
    start, repeats = time.perf_counter(), 20
    for _ in range(repeats):
        a @ b
    return 2 * 2048**3 * repeats / (time.perf_counter() - start)


class StepClock:
    """A TrainerCallback recording when each optimizer step ends, and the loss logged."""

    def __init__(self):
        from transformers import TrainerCallback

        clock = self

        class Callback(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                clock.ends.append(time.perf_counter())

            def on_log(self, args, state, control, logs=None, **kwargs):
                if logs and "loss" in logs:
                    clock.losses.append(logs["loss"])

        self.ends: list[float] = []
        self.losses: list[float] = []
        self.callback = Callback()


class TokenCounter:
    """Wraps a data collator and counts the non-padding tokens it hands out, step by step."""

    def __init__(self, collator):
        self.collator, self.counts = collator, []

    def __call__(self, features):
        self.counts.append(sum(len(f["input_ids"]) for f in features))  # before any padding
        return self.collator(features)


def run_antrenor(name: str, steps: int, workdir: Path) -> dict:
    from antrenor import prepare
    from antrenor.console import Reporter
    from antrenor.models.registry import load_tokenizer
    from antrenor.training.adapters import apply_method
    from antrenor.training.config import TrainConfig
    from antrenor.training.data import load_prepared
    from antrenor.training.tasks import setup_task
    from antrenor.training.trainer_setup import build_trainer

    settings = dict(CONFIGS[name])
    source = workdir / "titles.jsonl"
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in title_examples()), encoding="utf-8")
    prepare({"input": [str(source)], "output": str(workdir / "data"), "split": {"validation": 0, "test": 0},
             "dedup": {"near": False}})
    cfg = TrainConfig(data=str(workdir / "data"), model="smollm2-135m-instruct", task="sft",
                      output=str(workdir / "out"), max_steps=steps, effective_batch_size=8, report_to=[],
                      save_steps=10_000, warmup_ratio=0.0, **settings)
    tokenizer = load_tokenizer(cfg.model)
    task = setup_task(cfg, load_prepared(cfg.data), tokenizer, Reporter("quiet"))
    model = apply_method(task.model, cfg, task.head)
    trainer = build_trainer(cfg, model, tokenizer, task, Reporter("quiet"))
    counter, clock = TokenCounter(trainer.data_collator), StepClock()
    trainer.data_collator = counter
    trainer.add_callback(clock.callback)
    start = time.perf_counter()
    trainer.train()
    figures = _figures(clock, counter, start, trainer.args.per_device_train_batch_size,
                       params=sum(p.numel() for p in model.parameters()), bf16=trainer.args.bf16)
    return {**figures, "held_out_loss": held_out_answer_loss(model, tokenizer)}


def run_trl(steps: int, workdir: Path) -> dict:
    import datasets
    import peft
    from trl import SFTConfig, SFTTrainer

    from antrenor.models.embedded import smollm2_folder
    from antrenor.records.kinds import to_messages

    messages = [{"messages": to_messages(r, "instruction")} for r in title_examples()]
    args = SFTConfig(output_dir=str(workdir / "trl"), use_cpu=True, max_steps=steps, logging_steps=1,
                     save_strategy="no", report_to=[], disable_tqdm=True)
    trainer = SFTTrainer(model=str(smollm2_folder()), args=args, train_dataset=datasets.Dataset.from_list(messages),
                         peft_config=peft.LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear",
                                                     task_type="CAUSAL_LM"))
    counter, clock = TokenCounter(trainer.data_collator), StepClock()
    trainer.data_collator = counter
    trainer.add_callback(clock.callback)
    start = time.perf_counter()
    trainer.train()
    figures = _figures(clock, counter, start, args.per_device_train_batch_size,
                       params=sum(p.numel() for p in trainer.model.parameters()), bf16=bool(args.bf16))
    return {**figures, "held_out_loss": held_out_answer_loss(trainer.model, trainer.processing_class)}


def _figures(clock: StepClock, counter: TokenCounter, start: float, batch_size: int, params: int,
             bf16: bool | None = None) -> dict:
    per_step = max(1, 8 // batch_size)  # collator calls (micro-batches) per optimizer step of 8 examples
    tokens_per_step = [sum(counter.counts[i * per_step : (i + 1) * per_step]) for i in range(len(clock.ends))]
    timed = range(1, len(clock.ends))  # the first step pays for warm-up
    seconds = clock.ends[-1] - clock.ends[0]
    tokens = sum(tokens_per_step[i] for i in timed)
    return {"tokens_per_second": tokens / seconds, "seconds_per_step": seconds / len(timed),
            "loss": sum(clock.losses[1:]) / max(1, len(clock.losses) - 1), "params": params,
            "peak_rss_mb": peak_rss_mb(), "bf16": bf16}


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM): ru_maxrss would carry over the parent's peak across fork/exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--steps", type=int, default=5, help="optimizer steps per run (the first is not timed)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        with tempfile.TemporaryDirectory() as workdir:
            figures = run_trl(args.steps, Path(workdir)) if args.child == "trl-default" else \
                run_antrenor(args.child, args.steps, Path(workdir))
        print("RESULT " + json.dumps(figures))
        return
    peaks = {"bfloat16": matmul_peak("bfloat16"), "float32": matmul_peak("float32")}
    print(f"matmul peak: bf16 {peaks['bfloat16'] / 1e9:.0f} GFLOP/s, fp32 {peaks['float32'] / 1e9:.0f} GFLOP/s")
    results = {}
    for name in args.configs:
        child = subprocess.run([sys.executable, __file__, "--child", name, "--steps", str(args.steps)],
                               capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        line = next((l for l in child.stdout.splitlines() if l.startswith("RESULT ")), None)
        if line is None:
            print(f"{name}: failed\n{child.stderr[-1500:]}")
            continue
        figures = json.loads(line[len("RESULT "):])
        bf16 = bool(figures["bf16"])
        flops_per_token = (6 if CONFIGS[name]["method"] == "full" else 4) * figures["params"]
        figures["mfu"] = figures["tokens_per_second"] * flops_per_token / peaks["bfloat16" if bf16 else "float32"]
        results[name] = figures
    print(f"\n{'configuration':24} {'tokens/s':>9} {'s/step':>7} {'MFU':>6} {'peak RSS MB':>12} {'loss':>7} "
          f"{'held-out answer loss':>21}")
    for name, f in results.items():
        print(f"{name:24} {f['tokens_per_second']:9.0f} {f['seconds_per_step']:7.2f} {f['mfu']:6.1%} "
              f"{f['peak_rss_mb']:12.0f} {f['loss']:7.3f} {f['held_out_loss']:21.3f}")
    if "trl-default" in results and "antrenor-lora" in results:
        ours, peer = results["antrenor-lora"], results["trl-default"]
        print(f"\nantrenor-lora vs trl-default: {ours['tokens_per_second'] / peer['tokens_per_second']:.2f}x tokens/s, "
              f"{ours['peak_rss_mb'] / peer['peak_rss_mb']:.0%} of its peak RSS, held-out answer loss "
              f"{ours['held_out_loss']:.3f} vs {peer['held_out_loss']:.3f}")
    if "antrenor-full" in results and "antrenor-lora" in results:
        print(f"LoRA peak RSS / full: {results['antrenor-lora']['peak_rss_mb'] / results['antrenor-full']['peak_rss_mb']:.0%}")


if __name__ == "__main__":
    main()
