"""The prepare stage's outputs: split files, rejects, manifest, resolved config and reports."""

from __future__ import annotations

import html
import statistics
from collections import Counter
from pathlib import Path
from typing import Any, Protocol

from antrenor.config import save_resolved_config
from antrenor.console import Reporter
from antrenor.data import plots
from antrenor.data.config import PrepareConfig
from antrenor.data.readers import file_sha256
from antrenor.data.records import SPLITS, Record, Reject
from antrenor.provenance import package_versions
from antrenor.records.normalize import TextNormalizer
from antrenor.reporting.files import write_json_atomic, write_jsonl_atomic, write_text_atomic


class PrepareRunView(Protocol):
    """What the report reads of a prepare run (data/prepare_run.py's PrepareRun has it all)."""

    cfg: PrepareConfig
    reporter: Reporter
    kind: str
    kind_reason: str
    rejects: list[Reject]
    counts: Counter[str]
    inputs: list[dict[str, Any]]
    normalizer: TextNormalizer
    duplicate_examples: list[dict[str, Any]]
    split_origin: dict[str, str]
    max_length: int | None

VERSIONED = ("antrenor", "transformers", "tokenizers", "datasets", "datasketch", "pydantic", "pyarrow")


def build_summary(run: PrepareRunView, records: list[Record]) -> dict[str, Any]:
    by_split = {split: [r for r in records if r.split == split] for split in SPLITS}
    counts = {"read": run.counts["read"], "rejected": len(run.rejects),
              "written": len(records), "augmented": run.counts["augmented"]}
    for key in ("exact_duplicate", "near_duplicate", "contamination", "over_max_length", "truncated", "label_unseen_in_train"):
        counts[key] = run.counts[key]
    summary: dict[str, Any] = {
        "stage": "prepare",
        "kind": run.kind,
        "kind_reason": run.kind_reason,
        "inputs": run.inputs,
        "counts": counts,
        "rejected_by_code": dict(sorted(Counter(r.problem.code for r in run.rejects).items())),
        "normalization": dict(sorted(run.normalizer.changes.items())),
        "splits": {split: len(rows) for split, rows in by_split.items()},
        "split_origin": run.split_origin,
        "near_duplicate_examples": run.duplicate_examples,
        "warnings": list(run.reporter.warnings),
    }
    if run.kind in ("classification", "feedback"):  # feedback: desirable (True) vs undesirable (False) per split
        summary["labels"] = {split: dict(sorted(Counter(str(label) for r in rows for label in _labels(r)).items()))
                             for split, rows in by_split.items()}
    if run.max_length is not None:
        summary["token_lengths"] = {"model": run.cfg.model, "max_length": run.max_length,
                                    **{split: _length_stats([r.token_length or 0 for r in rows], run.max_length)
                                       for split, rows in by_split.items()}}
    return summary


def write_all(run: PrepareRunView, records: list[Record], summary: dict[str, Any], output: Path) -> None:
    ordered = sorted(records, key=lambda r: (r.index, bool(r.extra.get("augmented"))))
    for split in SPLITS:
        write_jsonl_atomic(output / f"{split}.jsonl", (r.data for r in ordered if r.split == split))
    file_order = {info["path"]: i for i, info in enumerate(run.inputs)}
    rejects = sorted(run.rejects, key=lambda r: (file_order.get(r.source, len(file_order)), r.source, r.line, r.problem.code))
    write_jsonl_atomic(output / "rejects.jsonl", (r.to_json() for r in rejects))
    save_resolved_config(run.cfg, output / "prepare_config.yaml")
    figures = _figures(summary, records)
    write_text_atomic(output / "data_report.md", render_markdown(summary, rejects))
    write_text_atomic(output / "data_report.html", render_html(summary, rejects, figures))
    outputs = [f"{s}.jsonl" for s in SPLITS] + ["rejects.jsonl", "prepare_config.yaml", "data_report.md", "data_report.html"]
    manifest = {
        "stage": "prepare",
        "kind": run.kind,
        "inputs": run.inputs,
        "config": run.cfg.model_dump(mode="json"),
        "counts": summary["counts"],
        "splits": summary["splits"],
        "outputs": {name: file_sha256(output / name) for name in outputs},
        "versions": package_versions(VERSIONED),
    }
    write_json_atomic(output / "manifest.json", manifest)


def _figures(summary: dict[str, Any], records: list[Record]) -> dict[str, str]:
    figures = {}
    if "token_lengths" in summary:
        lengths = {s: [r.token_length or 0 for r in records if r.split == s] for s in SPLITS}
        figures["Token lengths"] = plots.length_histogram_svg(lengths, summary["token_lengths"]["max_length"])
    if summary.get("labels"):
        figures["Labels per split"] = plots.label_bars_svg(summary["labels"])
    return figures


def _labels(record: Record) -> list[Any]:
    if "labels" in record.data:
        return list(record.data["labels"])
    return [record.data["label"]] if "label" in record.data else []


def _length_stats(values: list[int], max_length: int) -> dict[str, Any]:
    if not values:
        return {"records": 0}
    ordered = sorted(values)

    def pct(q: float) -> int:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"records": len(values), "min": ordered[0], "mean": round(statistics.fmean(values), 1),
            "p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99), "max": ordered[-1],
            "at_max_length": sum(1 for v in values if v >= max_length)}


def _sections(summary: dict[str, Any], rejects: list[Any]) -> list[tuple[str, list[str], list[list[Any]]]]:
    """The report's tables, shared by the Markdown and HTML renderings."""
    counts = summary["counts"]
    tables = [
        ("Inputs", ["file", "format", "records", "bytes", "sha256"],
         [[i["path"], i["format"], i.get("records", 0), i["bytes"], i["sha256"][:12]] for i in summary["inputs"]]),
        ("Records", ["step", "records"], [[k.replace("_", " "), v] for k, v in counts.items()]),
        ("Splits", ["split", "records", "how"],
         [[s, n, summary["split_origin"].get(s, "")] for s, n in summary["splits"].items()]),
        ("Normalization (texts changed)", ["change", "texts"], [[k, v] for k, v in summary["normalization"].items()]),
        ("Rejected, by reason", ["code", "records"], [[k, v] for k, v in summary["rejected_by_code"].items()]),
    ]
    if summary.get("labels"):
        labels = sorted({label for c in summary["labels"].values() for label in c})
        tables.append(("Labels", ["label"] + list(summary["labels"]),
                       [[label] + [summary["labels"][s].get(label, 0) for s in summary["labels"]] for label in labels]))
    if "token_lengths" in summary:
        stats = summary["token_lengths"]
        keys = ["records", "min", "mean", "p50", "p90", "p99", "max", "at_max_length"]
        tables.append((f"Token lengths ({stats['model']}, max_length {stats['max_length']})", ["split"] + keys,
                       [[s] + [stats[s].get(k, "") for k in keys] for s in SPLITS]))
    if summary["near_duplicate_examples"]:
        tables.append(("Near-duplicates (first 10)", ["dropped", "repeats", "similarity"],
                       [[d["dropped"], d["kept"], d["similarity"]] for d in summary["near_duplicate_examples"]]))
    tables.append(("Rejected records (first 20; all in rejects.jsonl)", ["where", "reason", "fix"],
                   [[f"{r.source}:{r.line}", r.problem.reason, r.problem.fix] for r in rejects[:20]]))
    return tables


def render_markdown(summary: dict[str, Any], rejects: list[Any]) -> str:
    lines = ["# Data report", "", f"Kind: **{summary['kind']}** ({summary['kind_reason']}).", ""]
    for warning in summary["warnings"]:
        lines.append(f"> warning: {warning}")
    for title, columns, rows in _sections(summary, rejects):
        lines += [f"## {title}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows] or []
        if not rows:
            lines.append("| (none) |" + " |" * (len(columns) - 1))
        lines.append("")
    return "\n".join(lines)


def render_html(summary: dict[str, Any], rejects: list[Any], figures: dict[str, str]) -> str:
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>antrenor data report</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;"
        "text-align:left;vertical-align:top;font-size:14px}th{background:#f3f3f3}.warn{color:#9a5b00}"
        "figure{margin:1em 0}</style></head><body>",
        "<h1>Data report</h1>",
        f"<p>Kind: <b>{html.escape(summary['kind'])}</b> ({html.escape(summary['kind_reason'])}).</p>",
    ]
    parts += [f"<p class='warn'>warning: {html.escape(w)}</p>" for w in summary["warnings"]]
    for title, columns, rows in _sections(summary, rejects):
        parts.append(f"<h2>{html.escape(title)}</h2><table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in columns) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows]
        parts.append("</table>")
    for title, svg in figures.items():
        parts.append(f"<h2>{html.escape(title)}</h2><figure>{svg}</figure>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _md_cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")[:300]
