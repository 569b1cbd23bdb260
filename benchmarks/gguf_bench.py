"""GGUF export of an embedded model: write time, file size and parity per GGUF type.

What it prints, per type: seconds to write the file (tokenizer metadata, tensor conversion and
quantization, writing), its size, and the parity check `antrenor export --format gguf` runs (the file
read back by transformers' GGUF reader against the source model, on chat prompts rendered with the
model's template): the largest logit difference over real tokens, as an absolute figure and as a share
of the largest |logit|, how many 8-token greedy answers are identical, and how many Romanian probe
sentences the read-back tokenizer encodes differently. Also the seconds the check itself took.

    OMP_NUM_THREADS=1 python benchmarks/gguf_bench.py                      # Gemma 3 270M, f16 and q8_0
    python benchmarks/gguf_bench.py --model ~/.cache/antrenor/models/smollm2-135m-instruct --types f16 q8_0 q4_0
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

PROMPTS = ["Care este capitala României?", "Scrie un titlu scurt pentru: Guvernul a aprobat bugetul pe 2025.",
           "Explică pe scurt ce este un contract de vânzare-cumpărare.", "Tradu în engleză: Bună dimineața!",
           "Ce înseamnă „prescripție” în dreptul civil?", "Numește trei râuri din România.",
           "Rezumă: Câinele se joacă în parc cu o minge roșie.", "Care este diferența dintre lege și ordonanță?"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(Path.home() / ".cache/antrenor/models/gemma3-270m"))
    parser.add_argument("--types", nargs="+", default=["f16", "q8_0"])
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from antrenor.export.gguf_export import write_gguf
    from antrenor.export.gguf_parity import gguf_parity
    from antrenor.models.chat import conversation_prompt_ids, end_of_turn_ids
    from antrenor.models.generation import left_padded, pad_token_id

    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    prompts = conversation_prompt_ids([[{"role": "user", "content": p}] for p in PROMPTS], tokenizer)
    batches = []
    for start in range(0, len(prompts), 4):
        ids, mask = left_padded(prompts[start:start + 4], pad_token_id(tokenizer))
        batches.append({"input_ids": ids, "attention_mask": mask})
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for gguf_type in args.types:
            path = Path(folder) / gguf_type / "model.gguf"
            path.parent.mkdir()
            written = write_gguf(model, tokenizer, path, gguf_type, name=Path(args.model).name)
            started = time.perf_counter()
            found = gguf_parity(model, tokenizer, path, batches, set(end_of_turn_ids(tokenizer)),
                                pad_token_id(tokenizer))
            rows.append({"type": gguf_type, "write_s": written["seconds"], "size_mb": written["size_mb"],
                         "tensor_types": written["tensor_types"], "check_s": round(time.perf_counter() - started, 1),
                         "max_abs_logit_difference": round(found["max_abs_logit_difference"], 4),
                         "relative": round(found["relative_difference"], 5), "logit_scale": round(found["logit_scale"], 1),
                         "same_greedy_answers": f"{found['same_greedy_answers']}/{found['examples']}",
                         "tokenizer_probes_differing": len(found["tokenizer_probes_differing"]),
                         "chat_template_equal": found["chat_template_equal"]})
            print(json.dumps(rows[-1], ensure_ascii=False), flush=True)
    print(f"\n{Path(args.model).name} ({sum(p.numel() for p in model.parameters()) / 1e6:.0f}M parameters)")
    print("| type | write s | size MB | check s | max |Δlogit| | share of max |logit| | greedy equal |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['type']} | {row['write_s']} | {row['size_mb']} | {row['check_s']} | "
              f"{row['max_abs_logit_difference']} | {row['relative']} | {row['same_greedy_answers']} |")


if __name__ == "__main__":
    main()
