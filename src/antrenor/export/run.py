"""`antrenor export`: setup -> merge (checked) -> save -> ONNX (parity) -> int8 (accuracy) -> card -> publish.

The folder is built under `<output>.partial` and renamed into place at the end, so an
interrupted export never leaves a half-written folder where a server would look for a model.

    >>> result = export({"model": "runs/demo/legal-sft/model", "output": "runs/demo/legal-sft/export", "format": "onnx"})
    >>> result.checks["onnx"]["max_abs_logit_difference"]
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from antrenor.config import as_config, save_resolved_config
from antrenor.console import Reporter
from antrenor.errors import AntrenorError, ConfigError
from antrenor.export import gguf_export, merge, onnx_export, parity, quantize, samples
from antrenor.export.card import write_model_card
from antrenor.export.config import ExportConfig
from antrenor.models.chat import end_of_turn_ids
from antrenor.models.generation import pad_token_id
from antrenor.models.loading import run_file
from antrenor.models.version import model_version
from antrenor.provenance import package_versions
from antrenor.records.normalize import normalization_settings
from antrenor.reporting.files import write_json_atomic
from antrenor.reporting.output_folder import (MARKER, OutputFolder, check_output, check_writable, foreign_files,
                                              read_marker, remove_own_folder)

VERSIONED = ("antrenor", "torch", "transformers", "peft", "onnx", "onnxruntime")


@dataclass
class ExportResult:
    output: Path
    checks: dict[str, Any]
    model_version: str
    hub_url: str | None = None


def export(config: ExportConfig | dict[str, Any] | str | Path, reporter: Reporter | None = None) -> ExportResult:
    cfg = as_config(ExportConfig, config)
    reporter = reporter or Reporter("quiet")
    eval_summary = check_before_work(cfg)
    output = Path(cfg.output)
    staging = staging_folder(output)
    if remove_own_folder(staging, "export"):  # check_before_work refused one antrenor did not write
        reporter.warn(f"removed {staging}: an export that did not finish left it there (its {MARKER} says so)")
    try:
        with OutputFolder(staging, "export", [cfg.model]):
            checks, version = _build(cfg, staging, eval_summary, reporter)
    except BaseException:
        remove_own_folder(staging, "export")  # this run's own half-built folder
        raise
    replace_folder(output, staging)
    reporter.info(f"export in [bold]{output}[/] (model version {version})")
    url = None
    if cfg.push_to_hub:
        from antrenor.export.hub import push_folder

        url = push_folder(output, cfg.push_to_hub)
        reporter.info(f"pushed to {url}")
    return ExportResult(output, checks, version, url)


def _build(cfg: ExportConfig, staging: Path, eval_summary: dict[str, Any] | None,
           reporter: Reporter) -> tuple[dict[str, Any], str]:
    reporter.info(f"loading [bold]{cfg.model}[/]")
    source = merge.load_source(cfg.model, trust_remote_code=cfg.trust_remote_code, allow_pickle=cfg.allow_pickle)
    data = samples.data_folder(source, cfg.data)
    records = samples.test_records(data, cfg.accuracy_examples)
    batches = samples.sample_batches(source, records, cfg.check_examples)
    checks: dict[str, Any] = {"task": source.task, "source": str(Path(cfg.model).resolve()),
                              "adapter": source.adapter_type, "check_inputs": "test split" if records else "general text"}
    model, difference, allowed = merge.merge_checked(source, batches, cfg.merge_tolerance)
    if difference is not None:
        checks["merge"] = {"max_abs_logit_difference": difference, "tolerance": allowed}
        reporter.info(f"merged the {source.adapter_type} adapter: largest logit difference {difference:.2e}")

    if cfg.format == "onnx":
        checks |= export_onnx(cfg, source, model, batches, records, staging, reporter)
    elif cfg.format == "gguf":
        checks |= export_gguf(cfg, source, model, batches, staging, reporter)
    save_weights(model, source, cfg.dtype, staging)
    version = model_version(staging)  # what `antrenor serve` logs for this folder
    # serving one .onnx file logs that file's own hash: list them so a log row can be traced to its weights
    file_versions = {path.name: model_version(path) for path in sorted(staging.glob("*.onnx"))}
    train_config = _train_config(source.folder)
    write_json_atomic(staging / "export.json",
        {"stage": "export", "task": source.task, "model_version": version, "file_versions": file_versions,
         "format": cfg.format, "quantize": cfg.quantize,
         "input_normalization": normalization_settings(data) if data else None,
         "max_length": train_config.get("max_length"), "checks": checks,
         "train_manifest": source.manifest, "versions": package_versions(VERSIONED)})
    save_resolved_config(cfg, staging / "export_config.yaml")
    write_model_card(staging, source.manifest, train_config, checks, eval_summary, cfg.license, cfg.intended_use,
                     cfg.limitations)
    return checks, version


def staging_folder(output: Path) -> Path:
    """Where an export is built before it replaces `output` whole."""
    return output.with_name(output.name + ".partial")


def replace_folder(output: Path, staging: Path) -> None:
    """Put the finished `staging` in place of `output`, deleting only files antrenor wrote there."""
    foreign = foreign_files(output)  # again: a server may have started writing its log there meanwhile
    if foreign:
        raise AntrenorError(f"the export is complete in {staging}, but {output} now holds files antrenor did not "
                            f"write ({', '.join(foreign[:5])}): they would be lost",
                            problems=[f"move them out of {output} and run the same export again"])
    if not output.exists():
        staging.rename(output)
        return
    earlier = output.with_name(f".{output.name}.replaced-{os.getpid()}")
    output.rename(earlier)  # then the new folder takes its name at once, and the old one goes
    staging.rename(output)
    shutil.rmtree(earlier)


def check_before_work(cfg: ExportConfig) -> dict[str, Any] | None:
    """Every config problem before any model loads; returns the eval summary to cite, if any."""
    problems = []
    model, output = Path(cfg.model), Path(cfg.output)
    if not (model / "manifest.json").is_file():
        problems.append(f"{cfg.model} is not an `antrenor train` output folder (no manifest.json)")
    problems += _output_problems(cfg, output)
    if cfg.data and not (Path(cfg.data) / "manifest.json").is_file():
        problems.append(f"data {cfg.data} is not an `antrenor prepare` output (no manifest.json)")
    summary = None
    if cfg.eval:
        metrics = Path(cfg.eval) / "metrics.json" if Path(cfg.eval).is_dir() else Path(cfg.eval)
        if metrics.is_file():
            summary = json.loads(metrics.read_text(encoding="utf-8"))
        else:
            problems.append(f"eval {cfg.eval} has no metrics.json: give the folder `antrenor eval` wrote")
    if cfg.format == "onnx":
        try:
            import onnx  # noqa: F401
            import onnxruntime  # noqa: F401
        except ImportError:
            problems.append("format onnx needs onnx and onnxruntime: pip install 'antrenor[onnx]'")
    if cfg.format == "gguf":
        problems += gguf_problems(model)
    if problems:
        raise ConfigError("cannot start the export:", problems=problems)
    check_writable(staging_folder(output))  # the parent: the export is built beside its folder, then renamed
    return summary


def _output_problems(cfg: ExportConfig, output: Path) -> list[str]:
    """An export replaces its folder whole: every file there must be antrenor's, whatever `overwrite` says."""
    foreign = foreign_files(output) if output.is_dir() else []
    problems = [] if not foreign else [
        f"output {output} holds files antrenor did not write there ({', '.join(foreign[:5])}"
        f"{f' and {len(foreign) - 5} more' if len(foreign) > 5 else ''}): an export replaces its folder whole, so "
        f"they would be lost; move them out of {output} (serve keeps its request log beside the folder now, in "
        f"{output}.requests.db), or export to a new folder"]
    # with files to move out, that is the one thing to say about the folder (overlaps still count)
    problems += check_output(output, "export", [cfg.model], cfg.overwrite or bool(foreign),
                             read_only=[cfg.data, cfg.eval])
    staging = staging_folder(output)
    if staging.exists() and (read_marker(staging) or {}).get("stage") != "export":
        problems.append(f"{staging} exists and antrenor did not write it (no {MARKER} of an export): the export is "
                        "built there; move it away or delete it")
    return problems


def export_onnx(cfg: ExportConfig, source: merge.ExportSource, model: Any, batches: list[dict[str, Any]],
                records: list[dict[str, Any]], staging: Path, reporter: Reporter) -> dict[str, Any]:
    path = staging / onnx_export.ONNX_FILE
    reporter.info("exporting to ONNX")
    if source.head == "sequence-classification":
        onnx_export.export_classifier(model, batches[0], path, cfg.opset)
        found = parity.classifier_parity(model, path, batches)
    elif source.head == "causal-lm":
        onnx_export.export_causal_lm(model, batches[0], path, cfg.opset)
        found = parity.causal_lm_parity(model, path, batches, set(end_of_turn_ids(source.tokenizer)),
                                        pad_token_id(source.tokenizer))
    else:
        raise AntrenorError(f"ONNX export supports classifiers and causal LMs, not {source.task} models",
                            problems=["export with format safetensors"])
    found["tolerance"] = cfg.parity_tolerance
    reporter.info(f"ONNX parity: largest logit difference {found['max_abs_logit_difference']:.2e} "
                  f"(tolerance {cfg.parity_tolerance:g})")
    if found["max_abs_logit_difference"] > cfg.parity_tolerance:
        raise AntrenorError(f"ONNX Runtime and PyTorch differ by {found['max_abs_logit_difference']:.3g} "
                            f"(tolerance {cfg.parity_tolerance:g}): the export is not faithful",
                            problems=["try another opset (--set opset=18)", "report the model architecture to antrenor"])
    checks = {"onnx": found}
    if cfg.quantize == "int8":
        checks["int8"] = quantize_checked(source, model, path, records, cfg, reporter)
    return checks


def gguf_problems(model: Path) -> list[str]:
    """GGUF needs the gguf package, a causal LM and (when the folder says) a supported architecture."""
    problems = []
    try:
        import gguf  # noqa: F401
    except ImportError:
        problems.append("format gguf needs the gguf package: pip install 'antrenor[gguf]'")
    manifest = json.loads((model / "manifest.json").read_text(encoding="utf-8")) if (model / "manifest.json").is_file() else {}
    if manifest.get("task") not in (None, "sft", "clm", "preference", "rl"):
        problems.append(f"format gguf exports causal LMs; {model} is a {manifest.get('task')} model: use safetensors or onnx")
    config = json.loads((model / "config.json").read_text(encoding="utf-8")) if (model / "config.json").is_file() else {}
    if config.get("model_type") and config["model_type"] not in gguf_export.ARCHITECTURES:
        problems.append(f"format gguf supports {', '.join(sorted(gguf_export.ARCHITECTURES))}, not {config['model_type']}: "
                        "export safetensors and convert with llama.cpp's convert_hf_to_gguf.py")
    return problems


def export_gguf(cfg: ExportConfig, source: merge.ExportSource, model: Any, batches: list[dict[str, Any]],
                staging: Path, reporter: Reporter) -> dict[str, Any]:
    """model.gguf (checked against the merged model, read back by transformers) and an Ollama Modelfile."""
    from antrenor.export.gguf_parity import GGUF_TOLERANCE, gguf_parity
    from antrenor.export.gguf_vocab import stop_tokens
    from antrenor.export.modelfile import write_modelfile

    path = staging / gguf_export.GGUF_FILE
    reporter.info(f"exporting to GGUF ({cfg.gguf_type})")
    written = gguf_export.write_gguf(model, source.tokenizer, path, cfg.gguf_type, Path(cfg.output).name)
    found = gguf_parity(model, source.tokenizer, path, batches, set(end_of_turn_ids(source.tokenizer)),
                        pad_token_id(source.tokenizer))
    found["relative_tolerance"] = cfg.gguf_tolerance or GGUF_TOLERANCE[cfg.gguf_type]
    found["tolerance"] = found["relative_tolerance"] * found["logit_scale"]
    reporter.info(f"GGUF parity: largest logit difference {found['max_abs_logit_difference']:.2e} "
                  f"({found['relative_difference']:.1e} of the largest logit; tolerance {found['relative_tolerance']:g}), "
                  f"{found['same_greedy_answers']}/{found['examples']} greedy answers equal")
    problems = []
    if found["relative_difference"] > found["relative_tolerance"]:
        problems.append(f"logits differ by {found['relative_difference']:.3g} of their scale "
                        f"(tolerance {found['relative_tolerance']:g} for {cfg.gguf_type})")
    if found["tokenizer_probes_differing"] or not found["chat_template_equal"] or not found["eos_equal"]:
        problems.append("the tokenizer read back from the file differs (probes "
                        f"{found['tokenizer_probes_differing']}, chat template equal {found['chat_template_equal']}, "
                        f"EOS equal {found['eos_equal']})")
    if problems:
        raise AntrenorError("the GGUF file is not faithful to the merged model: " + "; ".join(problems),
                            problems=["try gguf_type f16", "report the model architecture to antrenor"])
    generation = getattr(model, "generation_config", None)
    modelfile = write_modelfile(staging, source.tokenizer, stop_tokens(source.tokenizer),
                                min(int(model.config.max_position_embeddings), 4096),
                                generation.to_dict() if generation is not None else None, cfg.system_prompt)
    return {"gguf": written | {"modelfile": modelfile.name}, "gguf_parity": found}


def quantize_checked(source: merge.ExportSource, model: Any, path: Path, records: list[dict[str, Any]],
                     cfg: ExportConfig, reporter: Reporter) -> dict[str, Any]:
    target = path.with_name(quantize.INT8_FILE)
    reporter.info("quantizing to int8")
    quantize.quantize_int8(path, target)
    sizes = {"fp32_mb": round(path.stat().st_size / 2**20, 1), "int8_mb": round(target.stat().st_size / 2**20, 1)}
    if not records:
        return sizes | {"accuracy": None, "note": "no test split found: accuracy not checked (--set data=...)"}
    files = {"onnx_fp32": path, "onnx_int8": target}
    if source.head == "sequence-classification":
        usable = [r for r in records if "label" in r and not isinstance(r["label"], list)]
        if not usable or not source.labels or "label2id" not in source.labels:
            return sizes | {"accuracy": None, "note": "accuracy is checked for single-label classifiers only"}
        truth = [source.labels["label2id"][str(r["label"])] for r in usable]
        batches = samples.sample_batches(source, usable, len(usable), batch_size=16)
        accuracy = quantize.classifier_accuracy(model, files, batches, np.array(truth))
        found = sizes | {"metric": "accuracy", "examples": len(usable), "accuracy": accuracy}
    else:
        sequences = answer_sequences(source, records)
        accuracy = quantize.next_token_accuracy(model, files, sequences)
        found = sizes | {"metric": "next-token accuracy on answers", "examples": len(sequences), "accuracy": accuracy}
    found["int8_minus_fp32_points"] = round(accuracy["onnx_int8"] - accuracy["pytorch"], 2)
    reporter.info(f"int8: {found['metric']} {accuracy['onnx_int8']} vs {accuracy['pytorch']} (PyTorch fp32)")
    return found


def answer_sequences(source: merge.ExportSource, records: list[dict[str, Any]]) -> list[tuple[list[int], int]]:
    """(prompt + reference answer ids, prompt length) per test record, at most 512 tokens."""
    from antrenor.models.chat import prompt_ids, split_conversation

    kind = (source.manifest.get("data") or {}).get("kind", "instruction")
    if source.task != "sft":
        return [(ids[:256], 1) for ids in (source.tokenizer(r["text"])["input_ids"] for r in records) if len(ids) > 1]
    prompts = prompt_ids(records, kind, source.tokenizer)
    found = []
    for record, prompt in zip(records, prompts):
        answer = source.tokenizer(split_conversation(record, kind)[1], add_special_tokens=False)["input_ids"]
        if answer and len(prompt) + len(answer) <= 512:
            found.append((prompt + answer, len(prompt)))
    return found


def save_weights(model: Any, source: merge.ExportSource, dtype: str, folder: Path) -> None:
    import torch

    if dtype == "bfloat16":
        model = model.to(torch.bfloat16)
    model.save_pretrained(folder, safe_serialization=True)
    source.tokenizer.save_pretrained(folder)
    labels = run_file(source.folder, "labels.json")
    if labels:
        shutil.copy2(labels, folder / "labels.json")


def _train_config(folder: Path) -> dict[str, Any]:
    path = folder / "train_config.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else {}


def check_summary(check: dict) -> str:
    """One line for one export check (parity, int8 accuracy), as the CLI and `antrenor run` print it."""
    if "accuracy" in check and isinstance(check["accuracy"], dict):
        return f"{check['metric']}: " + ", ".join(f"{k} {v}" for k, v in check["accuracy"].items())
    if "max_abs_logit_difference" in check:
        return f"largest logit difference {check['max_abs_logit_difference']:.2e} (allowed {check['tolerance']:.3g})"
    return ", ".join(f"{k} {v}" for k, v in check.items())
