"""The Ollama `Modelfile` written beside `model.gguf`: `ollama create <name> -f Modelfile` imports the export.

Ollama renders prompts with a Go template, not the Jinja chat template in the GGUF metadata, so the
Modelfile carries the family's template in Go syntax, written to produce what the Jinja one produces
for the same messages (no BOS: llama.cpp adds it when the file says `add_bos_token`). The family is
recognised by the turn markers in the Jinja template: ChatML (Qwen2/Qwen3, SmolLM2), Llama 3, Gemma
(system text merged into the first user turn), Mistral (system text folded into the last user turn),
Phi-3, and antrenor's plain role-name template. Every end-of-turn token is a `PARAMETER stop`, so a
generation ends where training taught it to. Sampling defaults to greedy (temperature 0), as
`antrenor serve` and `antrenor eval` do; the model's generation_config.json sampling settings win.

    FROM ./model.gguf
    TEMPLATE \"\"\"{{- range .Messages }}<|im_start|>{{ .Role }} ...\"\"\"
    PARAMETER stop "<|im_end|>"
    PARAMETER temperature 0
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from antrenor.export.gguf_export import GGUF_FILE
from antrenor.models.chat import PLAIN_CHAT_TEMPLATE

MODELFILE = "Modelfile"
GO_TEMPLATES = {
    "chatml": (
        "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n"),
    "llama3": (
        "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>{{ end }}"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"),
    "gemma": (
        "{{- $system := \"\" }}{{- $first := true }}\n"
        "{{- range .Messages }}\n"
        "{{- if eq .Role \"system\" }}{{ $system = .Content }}\n"
        "{{- else if eq .Role \"user\" }}<start_of_turn>user\n"
        "{{ if and $first $system }}{{ $system }}\n\n{{ end }}{{ .Content }}<end_of_turn>\n{{ $first = false }}\n"
        "{{- else }}<start_of_turn>model\n{{ .Content }}<end_of_turn>\n{{ end }}\n"
        "{{- end }}<start_of_turn>model\n"),
    "mistral": (
        "{{- range $index, $_ := .Messages }}\n"
        "{{- if eq .Role \"user\" }}[INST] {{ if and (eq (len (slice $.Messages $index)) 1) $.System }}{{ $.System }}\n\n"
        "{{ end }}{{ .Content }}[/INST]\n"
        "{{- else if eq .Role \"assistant\" }} {{ .Content }}</s>\n"
        "{{- end }}\n{{- end }}"),
    "phi3": "{{- range .Messages }}<|{{ .Role }}|>\n{{ .Content }}<|end|>\n{{ end }}<|assistant|>\n",
    "plain": (
        "{{- range .Messages }}{{ if eq .Role \"user\" }}User{{ else if eq .Role \"assistant\" }}Assistant"
        "{{ else }}System{{ end }}: {{ .Content }}{{ if eq .Role \"assistant\" }}{eos}{{ end }}\n{{ end }}Assistant: "),
}
# Ollama's names for generation_config.json settings
SAMPLING = {"temperature": "temperature", "top_p": "top_p", "top_k": "top_k", "repetition_penalty": "repeat_penalty"}


def chat_family(chat_template: str | None) -> str | None:
    """The chat format a Jinja template writes, recognised by its turn markers; None when unknown."""
    if not chat_template:
        return None
    if chat_template == PLAIN_CHAT_TEMPLATE:
        return "plain"
    markers = [("<|im_start|>", "chatml"), ("<|start_header_id|>", "llama3"), ("<start_of_turn>", "gemma"),
               ("[INST]", "mistral"), ("<|end|>", "phi3")]
    return next((family for marker, family in markers if marker in chat_template), None)


def write_modelfile(folder: Path, tokenizer: Any, stops: list[str], context_length: int,
                    generation: dict[str, Any] | None = None, system: str | None = None) -> Path:
    """`folder/Modelfile` for `folder/model.gguf`; returns its path."""
    family = chat_family(getattr(tokenizer, "chat_template", None))
    lines = [f"# Ollama: ollama create <name> -f {MODELFILE}", f"FROM ./{GGUF_FILE}", ""]
    if family:
        template = GO_TEMPLATES[family].replace("{eos}", tokenizer.eos_token or "")
        lines += [f"# the {family} chat format, as the model was trained on it", f'TEMPLATE """{template}"""', ""]
    else:
        lines += ["# chat template not recognised: Ollama uses the one in the GGUF metadata if it knows it", ""]
    if system:
        lines += [f'SYSTEM """{system}"""', ""]
    lines += [f"PARAMETER stop {_quoted(stop)}" for stop in stops]
    for key, value in sampling_parameters(generation or {}).items():
        lines.append(f"PARAMETER {key} {value}")
    lines.append(f"PARAMETER num_ctx {context_length}")
    path = folder / MODELFILE
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def sampling_parameters(generation: dict[str, Any]) -> dict[str, Any]:
    """Greedy unless the model's generation config samples; then its temperature, top_p, top_k, repetition penalty."""
    if not generation.get("do_sample"):
        return {"temperature": 0}
    return {name: generation[key] for key, name in SAMPLING.items() if generation.get(key) is not None}


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
