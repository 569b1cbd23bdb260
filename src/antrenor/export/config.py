"""The export stage's config."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from antrenor.config import StageConfig


class ExportConfig(StageConfig):
    """Export a tuned model (a folder `antrenor train` wrote) for deployment.

    Always writes a merged Hugging Face folder (safetensors; LoRA/IA3 adapters merged into the
    base, checked against adapter + base on sample inputs) with a model card (README.md). With
    `format: onnx` also `model.onnx` (classifiers: logits; causal LMs: logits and key/value cache),
    checked against PyTorch; with `quantize: int8` also `model.int8.onnx` (dynamic int8), checked
    for accuracy on the test split. With `format: gguf` (causal LMs: Llama, Mistral, Qwen2, Qwen3,
    Gemma 3, Phi-3) also `model.gguf` for llama.cpp / Ollama with the tokenizer, chat template and stop
    tokens in its metadata, read back by transformers and compared with the merged model, and an Ollama
    `Modelfile` beside it.
    """

    stage: ClassVar[str] = "export"

    model: str = Field(..., description="A tuned model folder written by `antrenor train` (full weights or an adapter).")
    output: str = Field(..., description="Output folder: merged weights, tokenizer, README.md, export.json (+ ONNX files).")
    overwrite: bool = Field(False, description="Write into an output folder that holds another stage's results, "
                            "other inputs' results or files antrenor did not write (docs/output-folders.md); "
                            "only this stage's files are replaced, nothing else is deleted.")
    format: Literal["safetensors", "onnx", "gguf"] = Field(
        "safetensors", description="safetensors (merged weights), onnx or gguf (each also writes the safetensors).")
    gguf_type: Literal["f32", "f16", "bf16", "q8_0", "q5_1", "q5_0", "q4_1", "q4_0"] = Field(
        "q8_0", description="GGUF weight type (format gguf): f16 is lossless for bf16-trained models; q8_0 halves "
        "that (logits within ~1-5 % of their scale); q4/q5 quarter it, keeping the embedding and output head q8_0.")
    gguf_tolerance: float | None = Field(
        None, gt=0, description="Largest allowed |logit difference| of the GGUF file, as a share of the largest "
        "|logit| (default per type: f16 5e-3, q8_0 8e-2, q5 0.5, q4 0.8: for 4/5 bits it only catches a broken file).")
    system_prompt: str | None = Field(None, description="SYSTEM line of the Ollama Modelfile (format gguf).")
    quantize: Literal["none", "int8"] = Field("none", description="int8: also write a dynamically quantized model.int8.onnx (needs format onnx).")
    data: str | None = Field(None, description="Prepared data folder for the checks; default: the one the model was trained on.")
    eval: str | None = Field(None, description="An `antrenor eval` output folder (its metrics.json) whose results go into the model card.")
    dtype: Literal["float32", "bfloat16"] = Field(
        "float32", description="Dtype of the merged weights. float32 keeps a merged LoRA exact; bfloat16 halves the size.")
    check_examples: int = Field(16, ge=1, description="Sample inputs for the merge and ONNX parity checks.")
    merge_tolerance: float = Field(1e-3, gt=0, description="Largest allowed |logit difference| between merged and adapter + base, as a share of the largest |logit| (at least 1).")
    parity_tolerance: float = Field(
        5e-3, gt=0, description="Largest allowed |logit difference| between ONNX Runtime and PyTorch (fp32); LM logits reach ±30, so 5e-3 is a relative 1e-4.")
    accuracy_examples: int | None = Field(None, ge=1, description="Test examples for the int8 check (default: the whole test split).")
    opset: int = Field(17, ge=14, le=21, description="ONNX opset.")
    push_to_hub: str | None = Field(None, description="Upload the output folder to this Hugging Face Hub repo (needs network and a token).")
    license: str | None = Field(None, description="License for the model card (default: the base model's, from the registry).")
    intended_use: str | None = Field(None, description="Intended use for the model card (default: derived from task and data).")
    limitations: str | None = Field(None, description="Extra limitations for the model card (known ones are always listed).")
    trust_remote_code: bool = Field(False, description="Allow model code from the hub (off: only built-in architectures).")
    allow_pickle: bool = Field(False, description="Allow loading pickle (.bin) weights; safetensors only by default.")

    @model_validator(mode="after")
    def _int8_needs_onnx(self) -> "ExportConfig":
        if self.quantize == "int8" and self.format != "onnx":
            raise ValueError("quantize int8 quantizes the ONNX model: set format onnx as well (--format onnx)")
        return self
