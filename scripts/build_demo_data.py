#!/usr/bin/env python3
"""Rebuild the Romanian demo corpus in data/demo from the raw files in shared/data.

Stdlib only and deterministic: the same --seed gives byte-identical files. Texts are
copied unmodified from upstream (cedilla ş/ţ, non-breaking spaces and all);
`antrenor prepare` normalizes them, and the demo shows that.

    python scripts/build_demo_data.py [--shared PATH] [--output PATH] [--seed 13]
"""
from __future__ import annotations

import argparse
import json
import random
import re
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CODES = {  # code id -> human-readable Romanian name, in processing order
    "constitution": "Constituția României",
    "civil_code": "Codul civil",
    "civil_procedure_code": "Codul de procedură civilă",
    "penal_code": "Codul penal",
    "penal_procedure_code": "Codul de procedură penală",
    "fiscal_code": "Codul fiscal",
    "fiscal_procedure_code": "Codul de procedură fiscală",
    "labor_code": "Codul muncii",
    "administrative_code": "Codul administrativ",
}
HELD_OUT = {"labor_code", "fiscal_procedure_code", "constitution"}
LEGAL = ("ro-legal (9 Romanian codes of law)", "Nenma/ro-legal-bot (data/processed-laws/codes), "
         "scraped from legislatie.just.ro", "Official legislative texts; not protected by copyright "
         "under Romanian Law 8/1996, art. 9(b). Source: Nenma/ro-legal-bot (data/processed-laws/codes), "
         "scraped from legislatie.just.ro.")
RO_STS = ("RO-STS (Romanian semantic textual similarity, with its Romanian-English parallel side); "
          "cite: Dumitrescu et al. (2021), LiRo: Benchmark and leaderboard for Romanian language tasks, "
          "NeurIPS Datasets and Benchmarks", "https://github.com/dumitrescustefan/RO-STS",
          "CC BY-SA 4.0 (see `UPSTREAM-README.md` in the raw ro-sts/ folder). Source: dumitrescustefan/RO-STS.")
SIMONERO = ("UD Romanian SiMoNERo (medical sentences; Mitrofan, Barbu Mititelu)",
            "https://github.com/UniversalDependencies/UD_Romanian-SiMoNERo",
            "CC BY-SA 4.0 (`SIMONERO-LICENSE.txt`). Source: UniversalDependencies/UD_Romanian-SiMoNERo.")
SHARE_ALIKE = ("The files here are a sampled subset, re-packaged as JSON lines / plain text; the "
               "sentences themselves are unmodified. As a derivative they are shared under CC BY-SA 4.0 "
               "(https://creativecommons.org/licenses/by-sa/4.0/).")


# --------------------------------------------------------------------------- helpers
def read_lines(path: Path) -> list[str]:
    """Return the lines of a UTF-8 file, split on "\\n" only (no other Unicode breaks)."""
    lines = path.read_text(encoding="utf-8").split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def sample(rng: random.Random, items: list, k: int) -> list:
    """Return up to k items drawn without replacement (all of them, shuffled, if fewer)."""
    return rng.sample(items, min(k, len(items)))


def write_jsonl(path: Path, records: list[dict]) -> None:
    """Write one JSON object per line, UTF-8, non-ASCII kept, "\\n" line endings."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


def write_text(path: Path, text: str) -> None:
    """Write a UTF-8 text file with "\\n" line endings."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def write_license(folder: Path, sources: list[tuple[str, str, str]], how: str) -> None:
    """Write LICENSE.md: one attribution block per (source, upstream, license), then how it was built."""
    parts = [f"# {folder.name}: attribution and license\n"]
    for source, upstream, license_ in sources:
        parts.append(f"- **Source:** {source}\n- **Upstream:** {upstream}\n- **License:** {license_}\n")
    parts.append(f"## How these records were built\n\n{how}\n\n"
                 "Rebuild with `python scripts/build_demo_data.py` (stdlib only, deterministic, `--seed 13`).\n")
    write_text(folder / "LICENSE.md", "\n".join(parts))


# --------------------------------------------------------------------------- legal codes
def iter_articles(node):
    """Yield every article ({name, number, text}, no list values) of a nested code, in order."""
    if isinstance(node, dict):
        if set(node) == {"name", "number", "text"} and not any(isinstance(v, list) for v in node.values()):
            yield node
            return
        for value in node.values():
            yield from iter_articles(value)
    elif isinstance(node, list):
        for item in node:
            yield from iter_articles(item)


def is_placeholder(name: str) -> bool:
    """True for names like "Articolul 24": upstream filler where the code has no article titles."""
    return re.fullmatch(r"Articolul \d+", name.strip()) is not None


def plausible_title(name: str) -> bool:
    """True if `name` looks like a real article title, not a first paragraph or a placeholder."""
    title = name.strip()
    return (0 < len(title) <= 120 and "\n" not in name and not is_placeholder(title)
            and not (title[0] == "(" or title[0].isdigit() or title[0].islower())
            and not title.endswith((":", ";", ",")))


def usable(article: dict) -> bool:
    """False for empty, very short (< 40 chars) or repealed ("Abrogat") articles."""
    text = article["text"].strip()
    return len(text) >= 40 and not text.startswith(("Abrogat", "*** Abrogat"))


def load_codes(shared: Path) -> dict[str, list[dict]]:
    """Load every code's articles (all of them, in document order), keyed by code id."""
    return {code: list(iter_articles(json.loads((shared / "ro-legal" / f"{code}.json")
                                                .read_text(encoding="utf-8"))))
            for code in CODES}


def build_legal_instructions(codes: dict[str, list[dict]], seed: int) -> dict[str, list[dict]]:
    """Title and provision instructions; held-out codes form test, the rest a 90/10 train/validation.

    Provision questions skip articles whose number occurs twice in a code (ambiguous) and
    articles whose name is body text: there the first paragraph sits in `name`, so `text`
    alone would be an incomplete answer.
    """
    rng = random.Random(seed)
    pool, test = [], []
    for code, articles in codes.items():
        label, held = CODES[code], code in HELD_OUT
        n_title, n_provision = (120, 20) if held else (350, 80)
        counts = Counter(a["number"] for a in articles)
        titles = [a for a in articles if usable(a) and plausible_title(a["name"]) and len(a["text"]) <= 1200]
        provisions = [a for a in articles if usable(a) and len(a["text"]) <= 800 and counts[a["number"]] == 1
                      and (plausible_title(a["name"]) or is_placeholder(a["name"]))]
        records = [{"instruction": f"Propune un titlu scurt pentru următorul articol din {label}.",
                    "input": a["text"], "output": a["name"], "code": code}
                   for a in sample(rng, titles, n_title)]
        records += [{"instruction": f"Ce prevede articolul {a['number']} din {label}?",
                     "input": "", "output": a["text"], "code": code}
                    for a in sample(rng, provisions, n_provision)]
        (test if held else pool).extend(records)
    rng.shuffle(pool)
    rng.shuffle(test)
    n_validation = round(len(pool) * 0.1)
    return {"train": pool[n_validation:], "validation": pool[:n_validation], "test": test}


def build_legal_titles(instructions: dict[str, list[dict]], codes: dict[str, list[dict]], seed: int,
                       train_count: int = 320, max_chars: int = 500) -> dict[str, list[dict]]:
    """The demo-sized SFT set: title requests for articles of at most `max_chars` characters.

    Train: the first `train_count` such requests of `legal-instructions`' train split (six training codes).
    Test: every such request of the held-out codes (172: all of them, not the sample of 120 per code that
    `legal-instructions` holds), in a seeded shuffled order, so the demo measures generalisation to codes the
    model never saw. Sized so LoRA on Gemma 3 270M takes minutes on 2 cores. 40 test requests could not tell a
    4-point ROUGE-L gain from noise (p 0.33), 121 gave p 0.022; docs/benchmarks.md has the measurements.
    """
    def short_titles(records: list[dict]) -> list[dict]:
        return [r for r in records if r["instruction"].startswith("Propune") and len(r["input"]) <= max_chars]

    test = [{"instruction": f"Propune un titlu scurt pentru următorul articol din {CODES[code]}.",
             "input": a["text"], "output": a["name"], "code": code}
            for code in CODES if code in HELD_OUT for a in codes[code]
            if usable(a) and plausible_title(a["name"]) and len(a["text"]) <= max_chars]
    random.Random(f"legal-titles/test/{seed}").shuffle(test)
    return {"train": short_titles(instructions["train"])[:train_count], "test": test}


def write_legal_titles(out: Path, titles: dict[str, list[dict]]) -> None:
    for split, records in titles.items():
        write_jsonl(out / "legal-titles" / f"{split}.jsonl", records)
    write_license(out / "legal-titles", [LEGAL], (
        f"The demo-sized subset of `legal-instructions` that `make demo` trains on: the first "
        f"{len(titles['train'])} title requests of `train.jsonl` whose article text has at most 500 characters, and "
        f"for test all {len(titles['test'])} title requests of the held-out codes (the constitution and the fiscal "
        "procedure code) whose article text has at most 500 characters, built the same way, in a seeded shuffled "
        "order. Same fields."))


def same_title_key(title: str) -> str:
    """A title compared ignoring case, spacing and cedilla vs comma-below (ş/ș, ţ/ț)."""
    return " ".join(title.casefold().replace("ş", "ș").replace("ţ", "ț").split())


def build_legal_preference(titles: dict[str, list[dict]], seed: int) -> dict[str, list[dict]]:
    """Every title request as a preference pair: chosen = the article's real title, rejected = the
    title of another article of the same code and split (seeded; never the same title by same_title_key).

    The rejected title is fluent legal Romanian from the same code, only wrong for this article, so
    preferring the chosen one takes reading the article. Test pairs draw from test: held-out codes stay held out.
    The prompt is the instruction, a blank line and the article, as antrenor makes an instruction a user message.
    """
    pairs = {}
    for split, records in titles.items():
        rng = random.Random(f"legal-preference/{split}/{seed}")  # one stream per split: splits are independent
        keys = [same_title_key(r["output"]) for r in records]
        pairs[split] = []
        for record, key in zip(records, keys):
            others = [r["output"] for r, k in zip(records, keys) if r["code"] == record["code"] and k != key]
            if not others:
                raise ValueError(f"legal-titles {split}: no other {record['code']} title to reject for {record['output']!r}")
            prompt = record["instruction"] + (f"\n\n{record['input']}" if record["input"] else "")
            pairs[split].append({"prompt": prompt, "chosen": record["output"], "rejected": rng.choice(others),
                                 "code": record["code"]})
    return pairs


def write_legal_preference(out: Path, pairs: dict[str, list[dict]]) -> None:
    for split, records in pairs.items():
        write_jsonl(out / "legal-preference" / f"{split}.jsonl", records)
    write_license(out / "legal-preference", [LEGAL], (
        f"Preference records `{{prompt, chosen, rejected, code}}` built from every record of `legal-titles` "
        f"({len(pairs['train'])} train, {len(pairs['test'])} test, same order): `prompt` = the title request "
        "(instruction, a blank line, the article text: the user message antrenor makes of an instruction record), "
        "`chosen` = the article's real title, `rejected` = the title of another article of the same code and split, "
        "drawn with the seed and never the same title (compared ignoring case, spacing and ş/ș ţ/ț). A plausible "
        "but wrong title: preferring the chosen one takes reading the article. Test pairs come from the held-out "
        "codes only. For reward models and DPO-style preference tuning."))


def build_legal_classification(codes: dict[str, list[dict]], seed: int) -> list[dict]:
    """Up to 150 article texts (≤ 1500 chars, each text used once) per code, labelled with the code id."""
    rng = random.Random(seed)
    records, seen = [], set()
    for code, articles in codes.items():
        candidates = []
        for a in articles:
            if usable(a) and len(a["text"]) <= 1500 and a["text"] not in seen:
                seen.add(a["text"])
                candidates.append(a)
        records += [{"text": a["text"], "label": code} for a in sample(rng, candidates, 150)]
    rng.shuffle(records)
    return records


# --------------------------------------------------------------------------- RO-STS and SiMoNERo
def build_translation(sts: Path, seed: int) -> list[dict]:
    """1200 distinct RO-EN pairs from RO-STS train: half RO→EN, half EN→RO instructions."""
    rng = random.Random(seed)
    pairs: dict[str, str] = {}
    for ro, en in zip(read_lines(sts / "RO-STS.train.ro"), read_lines(sts / "RO-STS.train.en")):
        pairs.setdefault(ro, en)  # one pair per Romanian sentence: its first English side
    chosen = sample(rng, list(pairs.items()), 1200)
    half = len(chosen) // 2
    records = [{"instruction": "Tradu în engleză:", "input": ro, "output": en} for ro, en in chosen[:half]]
    records += [{"instruction": "Tradu în română:", "input": en, "output": ro} for ro, en in chosen[half:]]
    rng.shuffle(records)
    return records


def build_sts(sts: Path, seed: int) -> list[dict]:
    """1000 rows of RO-STS train (score<TAB>s1<TAB>s2, split on tabs: quotes are literal text)."""
    rows = [line.split("\t") for line in read_lines(sts / "RO-STS.train.tsv")]
    bad = [row for row in rows if len(row) != 3]
    if bad:
        raise ValueError(f"RO-STS.train.tsv: {len(bad)} rows without exactly 3 fields")
    chosen = sample(random.Random(seed), rows, 1000)
    return [{"text_a": s1, "text_b": s2, "score": float(score)} for score, s1, s2 in chosen]


def build_sts_reference(sts: Path, seed: int) -> list[dict]:
    """300 RO-STS dev pairs (never used for training here): encoders' general similarity ability."""
    rows = [line.split("\t") for line in read_lines(sts / "RO-STS.dev.tsv")]
    rows = [row for row in rows if len(row) == 3]
    return [{"text_a": s1, "text_b": s2, "score": float(score)} for score, s1, s2 in sample(random.Random(seed), rows, 300)]


def build_reference(shared: Path, seed: int) -> tuple[list[str], list[str]]:
    """General Romanian text: 300 RO-STS test sentences (+ their English) and 200 SiMoNERo sentences.

    RO-STS sentences that also occur in RO-STS train (used for translation) are left out.
    """
    rng = random.Random(seed)
    sts = shared / "ro-sts"
    in_train = set(read_lines(sts / "RO-STS.train.ro"))
    pairs: dict[str, str] = {}
    for ro, en in zip(read_lines(sts / "RO-STS.test.ro"), read_lines(sts / "RO-STS.test.en")):
        if ro not in in_train:
            pairs.setdefault(ro, en)  # first English side of a repeated sentence
    chosen = sample(rng, list(pairs.items()), 300)
    medical: dict[str, None] = {}
    for path in sorted((shared / "ro-medical").glob("*.conllu")):
        for line in read_lines(path):
            if line.startswith("# text = "):
                medical.setdefault(line[len("# text = "):])
    ro_lines = [ro for ro, _ in chosen] + sample(rng, list(medical), 200)
    return ro_lines, [en for _, en in chosen]


def build_medical_ood(shared: Path, general_ro: list[str], seed: int) -> list[dict]:
    """150 SiMoNERo medical sentences (>= 40 chars, none in general_ro.txt): out-of-distribution inputs.

    A legal-code classifier has no class for them, so they carry no label: `antrenor eval --ood`
    uses them for OOD detection (max-softmax and energy AUROC).
    """
    seen = set(general_ro)
    medical: dict[str, None] = {}
    for path in sorted((shared / "ro-medical").glob("*.conllu")):
        for line in read_lines(path):
            if line.startswith("# text = "):
                text = line[len("# text = "):]
                if len(text) >= 40 and text not in seen:
                    medical.setdefault(text)
    return [{"text": text} for text in sample(random.Random(seed), list(medical), 150)]


# --------------------------------------------------------------------------- README
def write_readme(out: Path, kinds: dict[str, tuple[str, str]]) -> None:
    """Write data/demo/README.md: a table of every data file (records, size, kind, license)."""
    rows, total = [], 0
    for path in sorted(p for p in out.rglob("*") if p.suffix in {".jsonl", ".txt"} and "LICENSE" not in p.name):
        kind, license_ = kinds[path.parent.name]
        size = path.stat().st_size
        total += size
        rows.append(f"| `{path.relative_to(out).as_posix()}` | {len(read_lines(path))} | "
                    f"{size / 1024:.1f} KB | {kind} | {license_} |")
    write_text(out / "README.md", "\n".join([
        "# Demo data (Romanian)\n",
        "Small, real Romanian corpora sampled from the raw files in `shared/data`. Texts are kept exactly",
        "as published upstream (e.g. cedilla ş ţ in several legal codes instead of comma-below ș ț);",
        "`antrenor prepare` normalizes them. Each folder has a `LICENSE.md` with attribution.\n",
        "| file | records | size | kind | license |", "|---|---:|---:|---|---|", *rows,
        "\nGeneral Romanian reference text (`general_ro.txt`, `general_en.txt`, for forgetting checks) is written by",
        "the same script into `src/antrenor/resources/`, since the package uses it at run time.",
        f"\nTotal: {total / 1024 / 1024:.2f} MB. Rebuild (deterministic, stdlib only):\n",
        "```\npython scripts/build_demo_data.py   # defaults: --shared ../shared/data --output data/demo --seed 13",
        "```\n"]))


def main() -> None:
    """Parse arguments, build every subset, write data, licenses and README, print a summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--output", type=Path, default=REPO / "data" / "demo")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    shared, out, seed = args.shared, args.output, args.seed
    codes = load_codes(shared)

    instructions = build_legal_instructions(codes, seed)
    for split, records in instructions.items():
        write_jsonl(out / "legal-instructions" / f"{split}.jsonl", records)
    write_license(out / "legal-instructions", [LEGAL], (
        "Alpaca records (`instruction`, `input`, `output`, plus `code`). Two tasks: *title* (propose the "
        "article's title from its text; only real titles ≤ 120 chars, texts ≤ 1200 chars) and *provision* "
        "(\"Ce prevede articolul N din …?\" → article text ≤ 800 chars). Repealed or very short articles are "
        "skipped. Up to 350 title + 80 provision examples per code from 6 codes, shuffled, 90 % train / 10 % "
        "validation; `test.jsonl` holds only the held-out codes (labor_code, fiscal_procedure_code, "
        "constitution; up to 120 + 20 each). labor_code has no real titles upstream, so it appears in the "
        "test set only through provision questions."))
    titles = build_legal_titles(instructions, codes, seed)
    write_legal_titles(out, titles)
    # the preference pairs keep the first 40 test requests: DPO's demo stays small
    write_legal_preference(out, build_legal_preference({"train": titles["train"], "test": titles["test"][:40]}, seed))
    write_jsonl(out / "legal-classification" / "articles.jsonl", build_legal_classification(codes, seed))
    write_license(out / "legal-classification", [LEGAL], (
        "`{text, label}`: up to 150 article texts (≤ 1500 chars, not repealed, each text once) per code, "
        "label = code id, for all 9 codes, in a seeded shuffled order. One file: `prepare` splits it stratified."))

    write_jsonl(out / "translation" / "ro_en.jsonl", build_translation(shared / "ro-sts", seed))
    write_license(out / "translation", [RO_STS], (
        "1200 distinct line-aligned pairs sampled from `RO-STS.train.ro` / `RO-STS.train.en`; half as "
        "\"Tradu în engleză:\" (ro → en), half as \"Tradu în română:\" (en → ro), shuffled.\n\n"
        + SHARE_ALIKE))
    write_jsonl(out / "sts-pairs" / "sts.jsonl", build_sts(shared / "ro-sts", seed))
    write_license(out / "sts-pairs", [RO_STS], (
        "`{text_a, text_b, score}` (score 0–5, float): 1000 rows sampled from `RO-STS.train.tsv`.\n\n"
        + SHARE_ALIKE))

    # The reference text ships inside the package: train (EWC, replay) and eval (forgetting) use it.
    resources = Path(__file__).resolve().parent.parent / "src" / "antrenor" / "resources"
    ro_lines, en_lines = build_reference(shared, seed)
    write_text(resources / "general_ro.txt", "".join(line + "\n" for line in ro_lines))
    write_text(resources / "general_en.txt", "".join(line + "\n" for line in en_lines))
    write_jsonl(resources / "sts_ro.jsonl", build_sts_reference(shared / "ro-sts", seed))
    write_text(resources / "SIMONERO-LICENSE.txt",
               (shared / "ro-medical" / "LICENSE.txt").read_text(encoding="utf-8"))
    write_license(resources, [RO_STS, SIMONERO], (
        "General Romanian text for forgetting checks, one sentence per line. `general_ro.txt`: lines 1–300 "
        "are distinct RO-STS test sentences (`RO-STS.test.ro`, none of them in RO-STS train), lines 301–500 "
        "distinct SiMoNERo sentences (the `# text = ` lines of `ro-medical/*.conllu`). `general_en.txt`: the "
        "English sides (`RO-STS.test.en`) of lines 1–300, line by line. `sts_ro.jsonl`: 300 pairs "
        "`{text_a, text_b, score}` sampled from `RO-STS.dev.tsv` (similarity 0–5), for encoders' forgetting "
        "checks.\n\n" + SHARE_ALIKE + "\n\n`general_probes.jsonl` (general questions with accepted answers, "
        "for chat models' forgetting checks) was written for antrenor by hand and is under the project's license; "
        "this script does not touch it."))

    legal = "not copyrighted (Law 8/1996, art. 9(b))"
    write_jsonl(out / "ood-medical" / "sentences.jsonl", build_medical_ood(shared, ro_lines, seed))
    write_text(out / "ood-medical" / "SIMONERO-LICENSE.txt",
               (shared / "ro-medical" / "LICENSE.txt").read_text(encoding="utf-8"))
    write_license(out / "ood-medical", [SIMONERO], (
        "`{text}`: 150 distinct SiMoNERo sentences (the `# text = ` lines of `ro-medical/*.conllu`, at least "
        "40 characters, none of them in the package's `general_ro.txt`), seeded sample. Medical text, no "
        "label: out-of-distribution inputs for the legal demos (`antrenor eval --ood`).\n\n" + SHARE_ALIKE))

    write_readme(out, {
        "ood-medical": ("plain text (OOD inputs)", "CC BY-SA 4.0 (SiMoNERo)"),
        "legal-instructions": ("instruction tuning (Alpaca)", legal),
        "legal-titles": ("instruction tuning (Alpaca), demo-sized", legal),
        "legal-preference": ("preference pairs (reward model, DPO), demo-sized", legal),
        "legal-classification": ("text classification (9 codes)", legal),
        "translation": ("instruction tuning (RO↔EN)", "CC BY-SA 4.0 (RO-STS)"),
        "sts-pairs": ("sentence-pair regression", "CC BY-SA 4.0 (RO-STS)"),
    })
    for path in sorted(out.rglob("*")):
        if path.is_file():
            print(f"{path.relative_to(out).as_posix():45} {len(read_lines(path)):6} lines "
                  f"{path.stat().st_size:>10,} bytes")
    print(f"total {sum(p.stat().st_size for p in out.rglob('*') if p.is_file()):,} bytes")


if __name__ == "__main__":
    main()
