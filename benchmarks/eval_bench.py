"""Generation throughput of SmolLM2-135M-Instruct: batched (left padding, KV cache) vs one prompt at a time.

What it prints: generated tokens per second and prompts per second for each batch size, on the
same prompts (Romanian legal titles from data/demo/legal-instructions/test.jsonl, or RO->EN
translation from data/demo/translation; greedy, 32 new tokens at most), and the speed-up of each batch size over batch 1. It also checks that every
batch size produced the same answers as batch 1 (greedy decoding must not depend on batching).

Target (issue 4): batched >= 4x one-by-one.

    python benchmarks/eval_bench.py                  # 64 prompts, batch sizes 1 8 16 32
    python benchmarks/eval_bench.py --prompts 32 --batch-sizes 1 16
    python benchmarks/eval_bench.py --workload translation --prompts 48 --batch-sizes 1 8 16
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def title_records(count: int) -> list[dict]:
    """Long prompts (a whole article, ~280 tokens), short answers: prefill dominates."""
    rows = [json.loads(line) for line in (REPO / "data/demo/legal-instructions/test.jsonl").read_text().splitlines()]
    return [r for r in rows if r["instruction"].startswith("Propune")][:count]


def translation_records(count: int) -> list[dict]:
    """Short prompts (one sentence, ~60 tokens), answers of similar length: decoding dominates."""
    rows = [json.loads(line) for line in (REPO / "data/demo/translation/ro_en.jsonl").read_text().splitlines()]
    return rows[-count:]  # the end of the file: the demo's held-out part


WORKLOADS = {"titles": title_records, "translation": translation_records}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 16, 32])
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="titles")
    parser.add_argument("--fp32", action="store_true", help="generate in fp32 instead of bf16")
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForCausalLM

    from antrenor.models.chat import prompt_ids
    from antrenor.models.embedded import smollm2_folder
    from antrenor.models.generation import generate_answers
    from antrenor.models.precision import cpu_supports_bf16
    from antrenor.models.registry import load_tokenizer

    dtype = torch.float32 if args.fp32 or not cpu_supports_bf16() else torch.bfloat16
    model = AutoModelForCausalLM.from_pretrained(smollm2_folder(), dtype=dtype).eval()
    tokenizer = load_tokenizer("smollm2-135m-instruct")
    prompts = prompt_ids(WORKLOADS[args.workload](args.prompts), "instruction", tokenizer)
    generate_answers(model, tokenizer, prompts[:2], max_new_tokens=4, batch_size=2)  # warm-up
    print(f"{len(prompts)} prompts, {sum(map(len, prompts)) / len(prompts):.0f} prompt tokens on average, "
          f"max_new_tokens {args.max_new_tokens}, {dtype}")
    print(f"{'batch':>5} {'seconds':>8} {'prompts/s':>10} {'new tokens/s':>13} {'speed-up':>9} {'same answers':>13}")
    reference, baseline = None, None
    for batch_size in args.batch_sizes:
        start = time.perf_counter()
        answers = generate_answers(model, tokenizer, prompts, max_new_tokens=args.max_new_tokens, batch_size=batch_size)
        seconds = time.perf_counter() - start
        new_tokens = sum(len(tokenizer(a, add_special_tokens=False)["input_ids"]) + 1 for a in answers)  # + end token
        reference = reference or answers
        baseline = baseline or seconds
        same = sum(a == b for a, b in zip(answers, reference))
        print(f"{batch_size:5d} {seconds:8.1f} {len(prompts) / seconds:10.2f} {new_tokens / seconds:13.1f} "
              f"{baseline / seconds:8.2f}x {same:>6d}/{len(prompts)}")


if __name__ == "__main__":
    main()
