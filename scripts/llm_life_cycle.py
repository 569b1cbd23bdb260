"""The chat model's production life cycle on the demo data, offline, as one script:

prepare legal title instructions -> LoRA SFT of SmolLM2-135M-Instruct -> export to ONNX (merge and
parity checked) -> `antrenor serve --backend onnx` -> questions through the official `openai` client
library -> the request log -> `antrenor monitor` drift report (legal questions, then medical ones).

    python scripts/llm_life_cycle.py                      # ~10 minutes on 2 cores
    python scripts/llm_life_cycle.py --examples 64 --output runs/llm-cycle

It prints what each step produced; every number comes from this run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def title_records(split: str, count: int) -> list[dict]:
    rows = [json.loads(line) for line in (REPO / f"data/demo/legal-instructions/{split}.jsonl").read_text().splitlines()]
    return [r for r in rows if r["instruction"].startswith("Propune") and len(r["input"]) < 500][:count]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=REPO / "runs/llm-cycle")
    parser.add_argument("--examples", type=int, default=160, help="training title examples")
    parser.add_argument("--questions", type=int, default=40, help="questions sent per phase")
    args = parser.parse_args()

    import openai

    from antrenor import export, monitor, prepare, train
    from antrenor.console import Reporter
    from antrenor.records.request_log import RequestLog
    from tests.unit.serve_process import ServerProcess

    out, reporter, started = args.output, Reporter("rich"), time.perf_counter()
    (out / "source").mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "source" / "train.jsonl", title_records("train", args.examples))
    write_jsonl(out / "source" / "test.jsonl", title_records("test", args.questions))
    prepare({"input": [str(out / "source")], "output": str(out / "data"), "model": "smollm2-135m-instruct",
             "filters": {"max_length": 384}, "split": {"validation": 0.0}}, reporter)
    train({"data": str(out / "data"), "model": "smollm2-135m-instruct", "task": "sft", "method": "lora",
           "output": str(out / "model"), "epochs": 1, "lr": 3e-4, "effective_batch_size": 8, "max_length": 384,
           "report_to": []}, reporter)
    exported = export({"model": str(out / "model"), "output": str(out / "export"), "format": "onnx"}, reporter)
    print("export checks:", json.dumps({k: exported.checks[k] for k in ("merge", "onnx")}, indent=1))

    test = [json.loads(line) for line in (out / "data" / "test.jsonl").read_text().splitlines()]
    medical = [json.loads(line)["text"] for line in (REPO / "data/demo/ood-medical/sentences.jsonl").read_text().splitlines()]
    server = ServerProcess(out / "export" / "model.onnx", out, "--backend", "onnx", "--quiet").wait_ready(300)
    try:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="none", max_retries=0, timeout=120)
        (model,) = client.models.list().data
        for record in test[: args.questions]:
            question = f"{record['instruction']}\n\n{record['input']}"
            answer = client.chat.completions.create(model=model.id, messages=[{"role": "user", "content": question}],
                                                    max_tokens=24, temperature=0).choices[0].message.content
        print(f"last answer: {answer!r} (reference: {record['output']!r})")
        quiet = monitor({"log": str(server.log_db), "reference": str(out / "data"), "output": str(out / "monitor-legal")})
        for sentence in medical[: args.questions]:
            client.chat.completions.create(model=model.id, max_tokens=8, temperature=0,
                                           messages=[{"role": "user", "content": f"Propune un titlu scurt: {sentence}"}])
    finally:
        server.stop()
    drifted = monitor({"log": str(server.log_db), "reference": str(out / "data"), "output": str(out / "monitor-mixed")})
    rows = RequestLog(server.log_db).rows()
    print(f"request log: {len(rows)} rows, statuses {sorted({r['status'] for r in rows})}, model version {rows[0]['model_version']}")
    for label, result in (("legal questions only", quiet), ("legal + medical", drifted)):
        verdicts = ", ".join(f"{s.name}: {s.verdict}" for s in result.signals)
        print(f"monitor ({label}): exit {result.exit_code}; {verdicts}; report {result.report_html}")
    print(f"done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
