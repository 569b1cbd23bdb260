"""The model card (README.md of an export): what a user of the Hub needs before trusting the model.

Everything in it is read from the run's own records: the train manifest (base model, data inputs
with hashes, parameters, versions), the resolved training config, the data folders' LICENSE
files, the export checks and, if given, the `antrenor eval` results (metrics with 95 % CIs and the
gain over the base, robustness, forgetting). Nothing is invented: a section without a source
says so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from antrenor.models.registry import REGISTRY

PIPELINE_TAGS = {"sft": "text-generation", "clm": "text-generation", "classification": "text-classification",
                 "mlm": "fill-mask", "preference": "text-generation", "rl": "text-generation",
                 "reward": "text-classification"}
HUB_LICENSES = {"Apache-2.0": "apache-2.0", "MIT": "mit", "CC BY-NC 4.0": "cc-by-nc-4.0", "Gemma": "gemma",
                "Llama 3.1 Community": "llama3.1", "Llama 3.2 Community": "llama3.2"}
KNOWN_LIMITATIONS = [
    "Trained on a narrow domain: outside it, expect the base model's behaviour or worse (see the OOD and "
    "forgetting figures when the evaluation ran).",
    "Romanian text should use comma-below ș ț; cedilla ş ţ and missing diacritics were measured separately "
    "(robustness section) when the evaluation ran.",
]


def write_model_card(output: Path, manifest: dict[str, Any], train_config: dict[str, Any], checks: dict[str, Any],
                     eval_summary: dict[str, Any] | None, license_: str | None, intended_use: str | None,
                     limitations: str | None) -> Path:
    task = manifest.get("task", "")
    base = manifest.get("base_model", "")
    entry = REGISTRY.get(base)
    hub_base = entry.hub_id if entry else base
    license_ = license_ or (HUB_LICENSES.get(entry.license, "other") if entry else "other")
    front = {"license": license_, "base_model": hub_base, "pipeline_tag": PIPELINE_TAGS.get(task, "other"),
             "library_name": "transformers", "tags": ["antrenor", task, manifest.get("method", "")], "language": ["ro"]}
    parts = ["---", yaml.safe_dump(front, sort_keys=False, allow_unicode=True).strip(), "---", "",
             f"# {output.name}", "",
             f"A {task} model fine-tuned from **{hub_base}** with antrenor ({manifest.get('method', '?')} method).", ""]
    parts += _usage(output, task)
    parts += _data(manifest)
    parts += ["## Training", "", "Resolved configuration (`antrenor train`):", "", "```yaml",
              yaml.safe_dump(train_config, sort_keys=False, allow_unicode=True).strip(), "```", ""]
    parameters = manifest.get("parameters") or {}
    if parameters:
        parts += [f"Trainable parameters: {parameters.get('trainable', 0):,} of {parameters.get('total', 0):,} "
                  f"({parameters.get('trainable_percent', 0):.3g} %).", ""]
    parts += _evaluation(eval_summary)
    parts += ["## Export checks", "", "```json", json.dumps(checks, indent=2, ensure_ascii=False), "```", ""]
    parts += ["## Intended use", "", intended_use or _default_use(task, manifest), ""]
    parts += ["## Limitations", "", *[f"- {line}" for line in KNOWN_LIMITATIONS + ([limitations] if limitations else [])], ""]
    versions = manifest.get("versions") or {}
    parts += ["## Provenance", "", "Library versions at training time: "
              + ", ".join(f"{k} {v}" for k, v in versions.items()) + "."]
    if manifest.get("git_commit"):
        parts[-1] += f" antrenor commit {manifest['git_commit'][:12]}."
    path = output / "README.md"
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return path


def _usage(output: Path, task: str) -> list[str]:
    lines = ["## How to use", "", "```python"]
    if task in ("sft", "clm", "preference", "rl"):
        lines += ["from transformers import AutoModelForCausalLM, AutoTokenizer", "",
                  f'model = AutoModelForCausalLM.from_pretrained("{output.name}")',
                  f'tokenizer = AutoTokenizer.from_pretrained("{output.name}")',
                  'messages = [{"role": "user", "content": "Propune un titlu scurt pentru următorul articol: ..."}]',
                  "ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors=\"pt\")",
                  "print(tokenizer.decode(model.generate(ids, max_new_tokens=64)[0, ids.shape[1]:], skip_special_tokens=True))"]
    else:
        lines += ["from transformers import pipeline", "",
                  f'classify = pipeline("text-classification", model="{output.name}")',
                  'print(classify("Contractul se încheie prin acordul de voință al părților."))']
    lines += ["```", "", "If `model.onnx` is present it runs with ONNX Runtime (`model.int8.onnx`: int8 weights); "
              "`antrenor serve --model <folder> --backend onnx` serves it.", ""]
    if (output / "model.gguf").is_file():
        lines += ["`model.gguf` runs with llama.cpp (`llama-cli -m model.gguf -cnv`) and Ollama: the `Modelfile` beside it "
                  "holds the chat template, the stop tokens and the sampling settings.", "", "```sh",
                  f"ollama create {output.name.removesuffix('.partial')} -f Modelfile",
                  f"ollama run {output.name.removesuffix('.partial')}", "```", ""]
    return lines


def _data(manifest: dict[str, Any]) -> list[str]:
    data = manifest.get("data") or {}
    lines = ["## Training data", ""]
    inputs = data.get("inputs") or []
    if not inputs:
        return lines + ["Not recorded.", ""]
    examples = manifest.get("examples") or {}
    lines += [f"Kind: {data.get('kind', '?')}; {examples.get('train', '?')} training and "
              f"{examples.get('validation', '?')} validation examples after `antrenor prepare`.", "",
              "| input | records | sha256 | license |", "|---|---:|---|---|"]
    for item in inputs:
        path = Path(item.get("path", ""))
        lines.append(f"| `{path.name}` | {item.get('records', '?')} | `{str(item.get('sha256', ''))[:16]}…` | "
                     f"{_license_line(path)} |")
    return lines + [""]


def _license_line(path: Path) -> str:
    """The `License:` line of a LICENSE.md beside the data (as antrenor's demo data has), if any."""
    for folder in (path.parent, path) if path.is_dir() else (path.parent,):
        notice = folder / "LICENSE.md"
        if notice.is_file():
            for line in notice.read_text(encoding="utf-8").splitlines():
                if "license:" in line.lower():
                    return line.split(":", 1)[1].strip().strip("*").strip()
    return "not stated: check before publishing"


def _evaluation(summary: dict[str, Any] | None) -> list[str]:
    lines = ["## Evaluation", ""]
    if not summary:
        return lines + ["No `antrenor eval` results were given to the export (`--set eval=<eval output folder>`).", ""]
    lines += [f"`antrenor eval` on the {summary.get('split')} split ({summary.get('examples')} examples); "
              "95 % bootstrap confidence intervals; p: paired bootstrap test against the base.", "",
              "| model | metric | value | 95 % CI | vs base | p |", "|---|---|---:|---|---:|---:|"]
    for label, entry in summary.get("models", {}).items():
        for name, metric in entry.get("metrics", {}).items():
            low, high = metric.get("ci95", [None, None])
            gain = entry.get("vs_base", {}).get(name, {})
            lines.append(f"| {label} | {name} | {_num(metric.get('value'))} | {_num(low)}–{_num(high)} | "
                         f"{_num(gain.get('delta'), signed=True)} | {_num(gain.get('p_value'), 3)} |")
    forgetting = {label: e["forgetting_vs_base"] for label, e in summary.get("models", {}).items() if e.get("forgetting_vs_base")}
    for label, figures in forgetting.items():
        flagged = [name for name, f in figures.items() if f.get("forgetting")]
        lines += ["", f"Forgetting ({label}): " + (f"flagged on {', '.join(flagged)}." if flagged else "none flagged.")]
    return lines + [""]


def _num(value: Any, digits: int = 2, signed: bool = False) -> str:
    if not isinstance(value, (int, float)):
        return ""
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _default_use(task: str, manifest: dict[str, Any]) -> str:
    kind = (manifest.get("data") or {}).get("kind", "")
    return (f"Research and prototyping of a Romanian {task} model on {kind} data like its training set. Not for "
            "decisions about people (legal or medical advice) without human review.")
