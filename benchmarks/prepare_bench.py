"""Benchmark of the `prepare` stage: time, throughput and peak memory against data size.

For each size (default 10K, 100K and 1M records) it writes a synthetic Romanian-flavoured
instruction dataset (JSONL with instruction/input/output, ~300-600 characters a record,
diacritics including some cedilla ş/ţ, ~2% exact and ~2% near duplicates so dedup has work),
then runs `antrenor.prepare` on it in a separate child process, so each size gets its own
peak RSS. Generation is not timed; only the `prepare()` call is (interpreter start and
`import antrenor` are not). Printed per size: records, seconds, records/s, peak RSS (MB),
and time per record relative to the smallest size (1.00 everywhere = linear cost). CPU
seconds (user + system) are printed too: on a shared machine they are steadier than wall time.

Target: 100K records in <= 60 s with <= 2 GB peak RSS on 2 cores, cost growing linearly.

    python benchmarks/prepare_bench.py                        # 10K, 100K, 1M; no tokenizer
    python benchmarks/prepare_bench.py --sizes 10000 100000 --model smollm2-135m-instruct
    python benchmarks/prepare_bench.py --sizes 100000 --profile   # cProfile top functions
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = (
    "și în că nu să cu pe la de un o este sunt care mai dar pentru din cum când unde după fără "
    "până între prin spre către asupra țară școală învățământ lege legislație contract instanță "
    "judecător avocat hotărâre dosar cerere termen obligație drept proprietate moștenire "
    "întreprindere societate angajat salariu impozit taxă buget fiscal contabilitate factură "
    "sănătate spital medic tratament boală pacient rețetă farmacie vaccin "
    "pădure munte râu câmpie oraș sat județ primărie cetățean alegeri guvern parlament "
    "învăța citi scrie răspunde întreba explica rezuma traduce compara analiza descrie "
    "frumos mare mic nou vechi important necesar posibil greu ușor rapid încet bine rău "
    "astăzi mâine ieri întotdeauna niciodată uneori adesea acum apoi însă totuși deși "
    "pâine apă vin brânză mămăligă sarmale ciorbă țuică cozonac plăcintă grădină "
    "ştiinţă ţară şcoală învăţământ preşedinte funcţie situaţie soluţie informaţie "  # cedilla forms
    "limbă română gramatică ortografie diacritice cuvânt propoziție frază text paragraf "
    "calculator program date rețea internet aplicație utilizator parolă securitate server"
).split()
INSTRUCTIONS = ["Explică pe scurt", "Rezumă textul următor", "Tradu în limba română", "Răspunde la întrebare",
                "Scrie un paragraf despre", "Compară cele două idei", "Corectează ortografia", "Descrie"]


def sentence(rng: random.Random, n_words: int) -> str:
    words = rng.choices(WORDS, k=n_words)
    return " ".join(words).capitalize() + rng.choice(".?!.")


def paragraph(rng: random.Random, n_words: int) -> str:
    parts = []
    while n_words > 0:
        k = min(n_words, rng.randint(6, 16))
        parts.append(sentence(rng, k))
        n_words -= k
    return " ".join(parts)


def make_record(rng: random.Random) -> dict[str, str]:
    # ~7 characters a word with its space: 40-80 words -> ~300-600 characters of text.
    total = rng.randint(40, 80)
    instr_words, input_words = rng.randint(5, 12), rng.choice([0, 0, rng.randint(8, 25)])
    return {"instruction": f"{rng.choice(INSTRUCTIONS)}: {paragraph(rng, instr_words)}",
            "input": paragraph(rng, input_words) if input_words else "",
            "output": paragraph(rng, max(total - instr_words - input_words, 20))}


def near_copy(rng: random.Random, record: dict[str, str]) -> dict[str, str]:
    """The same record with two adjacent words of the output replaced (word-3-gram Jaccard ~0.9)."""
    words = record["output"].split(" ")
    i = rng.randrange(len(words) - 1)
    words[i : i + 2] = rng.choices(WORDS, k=2)
    return {**record, "output": " ".join(words)}


def generate(path: Path, n: int, seed: int = 1234) -> dict[str, int]:
    """Write n records to path; ~2% exact and ~2% near copies of earlier records."""
    rng, pool, made = random.Random(seed), [], {"exact": 0, "near": 0}
    with path.open("w", encoding="utf-8") as f:
        for _ in range(n):
            roll = rng.random()
            if pool and roll < 0.02:
                record = rng.choice(pool)
                made["exact"] += 1
            elif pool and roll < 0.04:
                record = near_copy(rng, rng.choice(pool))
                made["near"] += 1
            else:
                record = make_record(rng)
                if len(pool) < 5000:
                    pool.append(record)
                else:
                    pool[rng.randrange(5000)] = record
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return made


def child(data: str, output: str, model: str | None, profile: bool) -> None:
    """Runs in the child process: prepare once, then print a JSON line of figures on stdout."""
    import resource

    import antrenor

    config = {"input": [data], "output": output, **({"model": model} if model else {})}
    profiler = None
    if profile:
        import cProfile
        profiler = cProfile.Profile()
        profiler.enable()
    cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])  # user + system seconds
    start, cpu_start = time.perf_counter(), cpu()
    result = antrenor.prepare(config)
    seconds, cpu_seconds = time.perf_counter() - start, cpu() - cpu_start
    if profiler:
        import pstats
        profiler.disable()
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("cumulative").print_stats(30)
        stats.sort_stats("tottime").print_stats(15)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "rss_mb": rss_mb, "splits": result.splits,
                      "rejected": result.rejected, "counts": result.summary["counts"]}))


def run_size(n: int, workdir: Path, model: str | None, profile: bool) -> dict:
    data, output = workdir / f"bench-{n}.jsonl", workdir / f"out-{n}"
    start = time.perf_counter()
    made = generate(data, n)
    print(f"[{n:,}] generated {data.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - start:.0f} s "
          f"({made['exact']} exact + {made['near']} near copies); load {os.getloadavg()[0]:.1f}; running prepare...", file=sys.stderr, flush=True)
    command = [sys.executable, __file__, "--child", str(data), str(output)]
    command += ["--model", model] if model else []
    command += ["--profile"] if profile else []
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    data.unlink()
    return {"records": n, "made": made, **figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--model", default=None, help="tokenizer to measure lengths with, e.g. smollm2-135m-instruct")
    parser.add_argument("--profile", action="store_true", help="cProfile prepare in the child; stats on stderr")
    parser.add_argument("--child", nargs=2, metavar=("DATA", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child, args.model, args.profile)

    print(f"nproc={os.cpu_count()}  python={sys.version.split()[0]}  model={args.model or 'none'}", file=sys.stderr)
    rows = []
    with tempfile.TemporaryDirectory(prefix="prepare-bench-") as tmp:
        for n in sorted(args.sizes):
            rows.append(run_size(n, Path(tmp), args.model, args.profile))
            r = rows[-1]
            print(f"[{n:,}] {r['seconds']:.1f} s, {r['rss_mb']:.0f} MB; counts {r['counts']}", file=sys.stderr, flush=True)
    base = rows[0]["seconds"] / rows[0]["records"]
    print(f"| records | seconds | CPU s | records/s | peak RSS MB | time/record vs {rows[0]['records']:,} |")
    print("|--------:|--------:|------:|----------:|------------:|------:|")
    for r in rows:
        ratio = (r["seconds"] / r["records"]) / base
        print(f"| {r['records']:,} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | {r['records'] / r['seconds']:,.0f} "
              f"| {r['rss_mb']:.0f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
