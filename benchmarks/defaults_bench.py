"""Do antrenor's defaults beat the honest baselines? And what did they buy over the previous defaults?

For each case: `antrenor prepare`, then `antrenor train` with NO method/lr/epochs given (today's defaults,
training/defaults.py) and with the previous defaults spelled out, then `antrenor eval` of both against the
baselines eval computes itself (classifiers: a linear probe on the frozen encoder; language models: the base
zero-shot and with k solved training examples). Prints, per case and setting: the headline metric, the strongest
baseline, the gain with its 95 % interval and p-value, and the training time.

Cases (real Romanian data shipped in data/demo):
  legal-codes   which of nine codes an article comes from (MiniLM; 1,349 articles, 20 % test)
  sts-pairs     are two sentences near-paraphrases (RO-STS score >= 3)? (MiniLM, sentence pairs, 1,000 pairs)
  penal-civil   criminal or civil law? the legal-codes articles of four codes, two labels (MiniLM; 600 articles)
  penal-civil-sft  the same as instructions answered `penal` or `civil` (Gemma 3 270M; exact match)
  legal-titles  a short title for an article of a code never seen in training (Gemma 3 270M; 320 train / 40 test)

    python benchmarks/defaults_bench.py                       # every case, both settings
    python benchmarks/defaults_bench.py --cases sts-pairs --settings defaults
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "runs" / "bench-defaults"
PREVIOUS = {"method": "lora", "lr": "1e-4", "epochs": "1", "validation": "false"}  # what train used before
SETTINGS = {"defaults": {}, "previous": PREVIOUS,
            # one default changed at a time, to show what it buys
            "random-head": {"head_init": "random"}, "lr-5e-5": {"lr": "5e-5"}, "lr-3e-5": {"lr": "3e-5"}}
HELD_OUT = ["--set", "split.validation=0", "--set", "split.test=0.2", "--set", "split.stratify=true"]  # 20 % test
MINILM = {"model": "minilm-l6", "task": "classification", "train": ["--set", "max_length=128"],
          "eval": ["--set", "max_length=128"]}
CASES = {
    "legal-codes": {**MINILM, "input": "data/demo/legal-classification/articles.jsonl",
                    "prepare": [*HELD_OUT, "--set", "filters.too_long=truncate"]},
    "sts-pairs": {**MINILM, "input": "sts-binary.jsonl", "prepare": HELD_OUT},
    "penal-civil": {**MINILM, "input": "penal-civil.jsonl", "prepare": [*HELD_OUT, "--set", "filters.too_long=truncate"]},
    "penal-civil-sft": {"input": "penal-civil-sft.jsonl", "model": "gemma3-270m", "task": "sft",
                        "prepare": ["--set", "split.validation=0", "--set", "split.test=0.2", "--set", "filters.max_length=384"],
                        "train": ["--set", "max_length=384"], "eval": ["--set", "max_new_tokens=8"]},
    "legal-titles": {"input": "data/demo/legal-titles", "model": "gemma3-270m", "task": "sft",
                     "prepare": ["--set", "split.validation=0", "--set", "filters.max_length=384"],
                     "train": ["--set", "max_length=384", "--set", "effective_batch_size=8"],
                     "eval": ["--set", "max_new_tokens=24"]},
}


def antrenor(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "antrenor", *args, "--quiet"], check=True, cwd=REPO)


def sts_binary(path: Path) -> Path:
    """RO-STS pairs with a label: near-paraphrase (score >= 3) or not."""
    rows = [json.loads(line) for line in (REPO / "data/demo/sts-pairs/sts.jsonl").read_text(encoding="utf-8").splitlines()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"text_a": r["text_a"], "text_b": r["text_b"],
                                        "label": "similar" if r["score"] >= 3 else "different"}, ensure_ascii=False) + "\n"
                            for r in rows), encoding="utf-8")
    return path


def penal_civil(path: Path) -> Path:
    """A binary task where the frozen encoder is already strong: criminal law or civil law (each code with its procedure)?"""
    families = {"penal_code": "penal", "penal_procedure_code": "penal", "civil_code": "civil", "civil_procedure_code": "civil"}
    rows = [json.loads(line) for line in (REPO / CASES["legal-codes"]["input"]).read_text(encoding="utf-8").splitlines()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"text": r["text"], "label": families[r["label"]]}, ensure_ascii=False) + "\n"
                            for r in rows if r["label"] in families), encoding="utf-8")
    return path


def penal_civil_sft(path: Path) -> Path:
    """penal-civil as instructions whose answer is exactly one word, `penal` or `civil` (the first 400
    characters of each article): a label-like generation task, scored by exact match."""
    rows = [json.loads(line) for line in penal_civil(path.with_name("penal-civil.jsonl")).read_text(encoding="utf-8").splitlines()]
    path.write_text("".join(json.dumps({"instruction": "Este acest articol din dreptul penal sau din dreptul civil? "
                                                       "Răspunde cu un singur cuvânt: penal sau civil.",
                                        "input": r["text"][:400], "output": r["label"]}, ensure_ascii=False) + "\n"
                            for r in rows), encoding="utf-8")
    return path


DERIVED = {"sts-binary.jsonl": sts_binary, "penal-civil.jsonl": penal_civil, "penal-civil-sft.jsonl": penal_civil_sft}


def run_case(name: str, settings: list[str]) -> list[dict]:
    case, folder = CASES[name], OUT / name
    derive = DERIVED.get(case["input"])
    source = str(derive(folder / case["input"])) if derive else case["input"]
    if not (folder / "data" / "manifest.json").exists():
        antrenor("prepare", "--input", source, "--output", str(folder / "data"), "--model", case["model"],
                 "--set", "lang=ro", *case["prepare"])
    rows = []
    for setting in settings:
        model = folder / setting / "model"
        flags = [x for key, value in SETTINGS[setting].items() for x in ("--set", f"{key}={value}")]
        started = time.perf_counter()
        if not (model / "manifest.json").exists():
            antrenor("train", "--data", str(folder / "data"), "--model", case["model"], "--task", case["task"],
                     "--output", str(model), "--set", "report_to=[]", *case["train"], *flags)
        seconds = time.perf_counter() - started
        antrenor("eval", "--model", str(model), "--data", str(folder / "data"), "--output", str(folder / setting / "eval"),
                 "--suite", "metrics", *case["eval"])
        summary = json.loads((folder / setting / "eval" / "metrics.json").read_text())
        tuned = next(entry for entry in summary["models"].values() if entry["role"] == "tuned")
        verdict = tuned["vs_strongest_baseline"]
        chosen = (model / "train_config.yaml").read_text()
        rows.append({"case": name, "setting": setting, "metric": verdict["metric"], "tuned": verdict["tuned_value"],
                     "baseline": verdict["baseline"], "baseline_value": verdict["baseline_value"],
                     "gain": verdict["gain"], "ci95": verdict["gain_ci95"], "p": verdict["p_value"],
                     "train_seconds": round(seconds), "chosen": [line.strip() for line in chosen.splitlines()
                                                                 if line.split(":")[0].strip() in ("method", "lr", "epochs")]})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--settings", nargs="+", default=["defaults", "previous"], choices=list(SETTINGS))
    args = parser.parse_args()
    rows = [row for name in args.cases for row in run_case(name, args.settings)]
    print(f"\n{'case':13} {'setting':9} {'metric':9} {'tuned':>7} {'strongest baseline':>24} {'gain (95% CI)':>24} {'p':>7} {'train':>6}")
    for r in rows:
        interval = f"{r['gain']:+.1f} ({r['ci95'][0]:+.1f}..{r['ci95'][1]:+.1f})"
        print(f"{r['case']:13} {r['setting']:9} {r['metric']:9} {r['tuned']:7.2f} {r['baseline']:>14} {r['baseline_value']:9.2f} "
              f"{interval:>24} {r['p']:7.3g} {r['train_seconds']:5d}s")


if __name__ == "__main__":
    main()
