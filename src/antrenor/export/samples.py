"""Sample inputs for the export checks (merge equivalence, ONNX parity, int8 accuracy).

Taken from the test split of the data the model was trained on (its manifest names the folder),
so the checks exercise the inputs the model will see; without that folder, from the general
Romanian text shipped with antrenor. Causal-LM prompts are rendered with the chat template and
left-padded, as generation sees them.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from antrenor.export.merge import ExportSource
from antrenor.records.kinds import model_inputs
from antrenor.records.splits import read_split, sample

MAX_TOKENS = 128


def data_folder(source: ExportSource, configured: str | None) -> Path | None:
    """The configured data folder, else the training data folder if it still exists."""
    if configured:
        return Path(configured)
    recorded = (source.manifest.get("data") or {}).get("folder")
    return Path(recorded) if recorded and (Path(recorded) / "manifest.json").is_file() else None


def test_records(folder: Path | None, limit: int | None, seed: int = 0) -> list[dict[str, Any]]:
    if folder is None:
        return []
    records = read_split(folder, "test") or read_split(folder, "validation")
    return sample(records, limit, seed)


def sample_batches(source: ExportSource, records: list[dict[str, Any]], count: int, batch_size: int = 4) -> list[dict[str, Any]]:
    """Padded tensor batches of `count` inputs (model keyword arguments)."""
    if source.head == "causal-lm":
        prompts = _prompt_ids(source, records)[:count]
        return [_left_padded(prompts[i : i + batch_size], source.tokenizer) for i in range(0, len(prompts), batch_size)]
    texts = model_inputs(records)[:count] if records and source.task == "classification" else _texts(records)[:count]
    return [_encoded(texts[i : i + batch_size], source.tokenizer) for i in range(0, len(texts), batch_size)]


def _texts(records: list[dict[str, Any]]) -> list[str]:
    found = [r["text"] for r in records if isinstance(r.get("text"), str)]
    if found:
        return found
    return resources.files("antrenor.resources").joinpath("general_ro.txt").read_text(encoding="utf-8").splitlines()


def _prompt_ids(source: ExportSource, records: list[dict[str, Any]]) -> list[list[int]]:
    from antrenor.models.chat import prompt_ids

    kind = (source.manifest.get("data") or {}).get("kind", "instruction")
    if source.task == "sft" and records:
        prompts = prompt_ids(records, kind, source.tokenizer)
    elif source.task == "sft":
        from antrenor.records.bundled import general_probes

        prompts = prompt_ids([{"instruction": p["question"], "output": ""} for p in general_probes()], "instruction",
                             source.tokenizer)
    else:  # clm: plain text
        prompts = [source.tokenizer(text, add_special_tokens=True)["input_ids"] for text in _texts(records)]
    return [p[-MAX_TOKENS:] for p in prompts]


def _left_padded(prompts: list[list[int]], tokenizer: Any) -> dict[str, Any]:
    from antrenor.models.generation import left_padded, pad_token_id

    ids, mask = left_padded(prompts, pad_token_id(tokenizer))
    return {"input_ids": ids, "attention_mask": mask}


def _encoded(texts: list[Any], tokenizer: Any) -> dict[str, Any]:
    if texts and isinstance(texts[0], tuple):
        return dict(tokenizer([a for a, _ in texts], [b for _, b in texts], truncation=True, max_length=MAX_TOKENS,
                              padding=True, return_tensors="pt"))
    return dict(tokenizer(list(texts), truncation=True, max_length=MAX_TOKENS, padding=True, return_tensors="pt"))
