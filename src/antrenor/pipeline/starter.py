"""`antrenor init`: a commented starter pipeline.yaml for one task, valid as written.

    >>> from antrenor.pipeline.starter import starter_pipeline
    >>> print(starter_pipeline("classification", data="my_articles.jsonl"))  # doctest: +ELLIPSIS
    # antrenor pipeline: classification ...
"""

from __future__ import annotations

from pathlib import Path

from antrenor.errors import ConfigError

DEFAULT_MODELS = {"sft": "smollm2-135m-instruct", "classification": "minilm-l6", "clm": "smollm2-135m-instruct",
                  "mlm": "minilm-l6"}
DEFAULT_DATA = {"sft": "data/demo/legal-instructions", "classification": "data/demo/legal-classification",
                "clm": "data/my_corpus.txt", "mlm": "data/my_corpus.txt"}
WHAT = {
    "sft": "instruction tuning of a chat model (records: instruction/input/output, or chat messages)",
    "classification": "text classification (records: text + label, or labels for multi-label)",
    "clm": "continued pre-training of a causal LM on raw domain text (one record per line)",
    "mlm": "continued masked-LM pre-training of an encoder on raw domain text",
}

_TRAIN = {
    "sft": """  method: lora                # full | lora | qlora | ia3 | prompt | freeze
  epochs: 1                   # 1-3 is usual for instruction data; more overfits small sets
  lr: 2.0e-4                  # LoRA: 1e-4..3e-4; full fine-tuning: 1e-5..5e-5
  effective_batch_size: 16    # reached with gradient accumulation over batch_size
  max_length: 512             # tokens, chat template included
  lora:
    r: 16
    alpha: 32""",
    "classification": """  method: full                # small encoders train fully; lora for large ones
  epochs: 5
  lr: 5.0e-5
  batch_size: 16
  effective_batch_size: 16
  max_length: 256""",
    "clm": """  method: lora
  epochs: 1
  lr: 1.0e-4
  effective_batch_size: 16
  max_length: 512
  packing: true               # join short lines into full windows (no attention across them)""",
    "mlm": """  method: full
  epochs: 2
  lr: 5.0e-5
  effective_batch_size: 32
  max_length: 256""",
}

_EVAL_EXTRA = {
    "sft": "  suite: [metrics, robustness, forgetting]   # add ood with `ood: FILE` (data of another domain)\n  max_new_tokens: 64",
    "classification": "  suite: [metrics, robustness]                # add ood with `ood: FILE`; forgetting for LMs",
    "clm": "  suite: [metrics, forgetting]                # perplexity on held-out domain text and general text",
    "mlm": "  suite: [metrics]",
}


def starter_pipeline(task: str, model: str | None = None, data: str | None = None, name: str | None = None) -> str:
    if task not in WHAT:
        raise ConfigError(f"antrenor init: unknown task {task!r}; choose from {', '.join(WHAT)}")
    model = model or DEFAULT_MODELS[task]
    data = data or DEFAULT_DATA[task]
    run = f"runs/{name or task}"
    fmt = "onnx" if task in ("sft", "classification") else "safetensors"
    return f"""# antrenor pipeline: {task}: {WHAT[task]}.
# Run it:  antrenor run {name or task}.yaml        (a re-run skips unchanged stages; --force STAGE reruns one)
# Change a key without editing:  antrenor run {name or task}.yaml --set train.lr=1e-4
# Every key is documented in docs/config.md and by `antrenor <stage> --help`.

prepare:
  input: [{data}]   # files or folders: JSONL, CSV, Parquet, text
  output: {run}/data
  model: {model}           # its tokenizer measures lengths
  lang: ro                    # Romanian fixes: cedilla ş ţ -> comma-below ș ț
  split:
    validation: 0.1
    test: 0.1

train:
  data: {run}/data
  model: {model}
  task: {task}
  output: {run}/model
{_TRAIN[task]}

eval:
  models: [{run}/model]       # the base model is found in the training manifest and compared
  data: {run}/data
  output: {run}/eval
{_EVAL_EXTRA[task]}

export:
  model: {run}/model
  output: {run}/export
  format: {fmt}               # onnx also checks parity with PyTorch; add `quantize: int8` for CPU serving
  eval: {run}/eval            # its results go into the model card

serve:                        # antrenor run {name or task}.yaml --serve, or antrenor serve --config {name or task}.yaml
  model: {run}/export
  backend: {"onnx" if fmt == "onnx" else "torch"}
  port: 8000

run:
  output: {run}
"""


def write_starter(path: str | Path, task: str, model: str | None = None, data: str | None = None,
                  overwrite: bool = False) -> Path:
    path = Path(path)
    if path.exists() and not overwrite:
        raise ConfigError(f"{path} exists; choose another name or pass --force to replace it")
    text = starter_pipeline(task, model, data, name=path.stem)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
