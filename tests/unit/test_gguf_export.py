"""GGUF export on tiny random models of the six supported architectures: the file read back by transformers
gives the merged model's logits and greedy tokens, its metadata names the architecture, chat template and
stop tokens, and the Ollama Modelfile carries the family's template and stops."""

from __future__ import annotations

import json

import pytest

from antrenor.export.gguf_parity import GGUF_TOLERANCE
from tests.family_models import FAMILIES, family_model_dir, family_tokenizer

FAMILY_NAMES = sorted(FAMILIES)
# turn markers the Modelfile's Go template must write, and the stop tokens it must name, per family
EXPECTED_CHAT = {
    "llama": ("llama3", ["<|start_header_id|>", "<|eot_id|>"], ["<|eot_id|>"]),
    "qwen2": ("chatml", ["<|im_start|>", "<|im_end|>"], ["<|im_end|>"]),
    "qwen3": ("chatml", ["<|im_start|>", "<|im_end|>"], ["<|im_end|>"]),
    "mistral": ("mistral", ["[INST]", "[/INST]", "</s>"], ["</s>"]),
    "phi3": ("phi3", ["<|{{ .Role }}|>", "<|end|>", "<|assistant|>"], ["<|end|>", "<|endoftext|>"]),
    "gemma3_text": ("gemma", ["<start_of_turn>", "<end_of_turn>"], ["<end_of_turn>", "<eos>"]),
}


@pytest.fixture(scope="module")
def family_models(tmp_path_factory):
    """family -> (merged model, tokenizer), loaded back from a saved folder as an export sees them."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    loaded = {}
    for family in FAMILY_NAMES:
        folder = family_model_dir(tmp_path_factory.mktemp(family), family)
        loaded[family] = (AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval(),
                          AutoTokenizer.from_pretrained(folder))
    return loaded


def prompt_batches(tokenizer):
    from antrenor.models.chat import conversation_prompt_ids
    from antrenor.models.generation import left_padded, pad_token_id

    conversations = [[{"role": "user", "content": "Care este capitala României?"}],
                     [{"role": "user", "content": "Scrie un titlu scurt pentru: Câinele se joacă în parc."}],
                     [{"role": "user", "content": "Bună ziua"}, {"role": "assistant", "content": "Bună!"},
                      {"role": "user", "content": "Ce faci?"}]]
    ids, mask = left_padded(conversation_prompt_ids(conversations, tokenizer), pad_token_id(tokenizer))
    return [{"input_ids": ids, "attention_mask": mask}]


@pytest.mark.parametrize("gguf_type", ["f16", "q8_0"])
@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_gguf_file_reads_back_as_the_merged_model(tmp_path, family_models, family, gguf_type):
    import gguf

    from antrenor.export.gguf_export import write_gguf
    from antrenor.export.gguf_parity import gguf_parity
    from antrenor.models.chat import end_of_turn_ids
    from antrenor.models.generation import pad_token_id

    model, tokenizer = family_models[family]
    path = tmp_path / "model.gguf"
    written = write_gguf(model, tokenizer, path, gguf_type, name="tiny-export")
    found = gguf_parity(model, tokenizer, path, prompt_batches(tokenizer), set(end_of_turn_ids(tokenizer)),
                        pad_token_id(tokenizer))
    assert found["relative_difference"] <= GGUF_TOLERANCE[gguf_type], found
    if gguf_type == "f16":
        assert found["same_greedy_answers"] == found["examples"] == 3
    assert found["tokenizer_probes_differing"] == [] and found["chat_template_equal"] and found["eos_equal"]

    reader = gguf.GGUFReader(path)
    field = lambda key: reader.fields[key].contents()
    arch = {"mistral": "llama", "gemma3_text": "gemma3"}.get(family, family)
    assert field("general.architecture") == written["architecture"] == arch
    assert field("tokenizer.chat_template") == tokenizer.chat_template
    assert field("tokenizer.ggml.eos_token_id") == tokenizer.eos_token_id
    turn_end = EXPECTED_CHAT[family][2][0]
    assert field("tokenizer.ggml.eot_token_id") == tokenizer.convert_tokens_to_ids(turn_end)
    tokens = field("tokenizer.ggml.tokens")
    assert len(tokens) == model.config.vocab_size and tokens[tokenizer.eos_token_id] == tokenizer.eos_token
    assert field("tokenizer.ggml.model") == ("gpt2" if FAMILIES[family][0] == "byte" else "llama")
    quantized = {t.tensor_type.name for t in reader.tensors if len(t.shape) == 2}
    assert quantized == ({"F16"} if gguf_type == "f16" else {"Q8_0"})


def test_norms_are_stored_plus_one_for_gemma_and_qk_rows_permuted_for_llama(family_models):
    """What llama.cpp expects beyond renaming, checked on the tensors themselves (not only through a reader)."""
    import torch

    from antrenor.export.gguf_export import architecture_of, gguf_tensors

    gemma, _ = family_models["gemma3_text"]
    stored = {name: data for name, data, _ in gguf_tensors(gemma, architecture_of(gemma.config), "f32")}
    weight = gemma.model.layers[0].post_feedforward_layernorm.weight
    assert torch.allclose(torch.from_numpy(stored["blk.0.post_ffw_norm.weight"]), weight + 1)

    llama, _ = family_models["llama"]
    stored = {name: data for name, data, _ in gguf_tensors(llama, architecture_of(llama.config), "f32")}
    q = llama.model.layers[1].self_attn.q_proj.weight
    head_dim = q.shape[0] // 4
    row = torch.from_numpy(stored["blk.1.attn_q.weight"])
    # head 0: its rows 0 and 1 are HF rows 0 and head_dim / 2 (one rotary pair)
    assert torch.equal(row[0], q[0]) and torch.equal(row[1], q[head_dim // 2])
    assert "output.weight" not in stored  # tied embeddings: llama.cpp reuses token_embd


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_modelfile_has_the_family_template_and_stops(tmp_path, family):
    from antrenor.export.gguf_vocab import stop_tokens
    from antrenor.export.modelfile import write_modelfile

    tokenizer = family_tokenizer(family)
    path = write_modelfile(tmp_path, tokenizer, stop_tokens(tokenizer), 2048, None, "Răspunde scurt, în română.")
    text = path.read_text(encoding="utf-8")
    name, markers, stops = EXPECTED_CHAT[family]
    assert text.splitlines()[1] == "FROM ./model.gguf"
    assert f"the {name} chat format" in text
    template = text.split('TEMPLATE """', 1)[1].split('"""', 1)[0]
    assert all(marker in template for marker in markers)
    assert "{{ .Content }}" in template and ".Messages" in template
    for stop in stops:
        assert f'PARAMETER stop "{stop}"' in text
    assert 'SYSTEM """Răspunde scurt, în română."""' in text
    assert "PARAMETER temperature 0" in text and "PARAMETER num_ctx 2048" in text


def test_modelfile_samples_as_the_generation_config_says(tmp_path):
    from antrenor.export.modelfile import write_modelfile

    tokenizer = family_tokenizer("qwen2")
    text = write_modelfile(tmp_path, tokenizer, ["<|im_end|>"], 4096,
                           {"do_sample": True, "temperature": 0.7, "top_p": 0.8, "repetition_penalty": 1.05}).read_text()
    assert "PARAMETER temperature 0.7" in text and "PARAMETER top_p 0.8" in text and "PARAMETER repeat_penalty 1.05" in text
    assert "SYSTEM" not in text


def test_unsupported_architecture_is_refused_by_name():
    from transformers import GPT2Config

    from antrenor.errors import AntrenorError
    from antrenor.export.gguf_export import architecture_of

    with pytest.raises(AntrenorError, match="does not support model type 'gpt2'") as caught:
        architecture_of(GPT2Config())
    assert "qwen3" in str(caught.value.problems)


def test_export_stage_writes_gguf_modelfile_and_card(tmp_path_factory, sft_data):
    """`antrenor export --format gguf` on a LoRA-tuned Qwen2: merged, written, checked, described."""
    from antrenor import train
    from antrenor.export.run import export

    base = family_model_dir(tmp_path_factory.mktemp("qwen2-base"), "qwen2")
    tuned = tmp_path_factory.mktemp("qwen2-sft") / "model"
    train({"data": str(sft_data), "model": str(base), "task": "sft", "method": "lora", "output": str(tuned),
           "max_steps": 2, "lr": 5e-2, "report_to": []})
    result = export({"model": str(tuned), "output": str(tuned.parent / "export"), "format": "gguf",
                     "gguf_type": "q8_0", "check_examples": 4, "system_prompt": "Ești un asistent juridic."})
    out = result.output
    for name in ("model.gguf", "Modelfile", "model.safetensors", "README.md", "export.json"):
        assert (out / name).is_file(), name
    checks = result.checks
    assert checks["merge"]["max_abs_logit_difference"] <= checks["merge"]["tolerance"]
    assert checks["gguf"]["architecture"] == "qwen2" and checks["gguf"]["modelfile"] == "Modelfile"
    parity = checks["gguf_parity"]
    assert parity["relative_difference"] <= parity["relative_tolerance"] == GGUF_TOLERANCE["q8_0"]
    assert parity["examples"] == 4 and parity["tokenizer_probes_differing"] == []
    assert json.loads((out / "export.json").read_text())["format"] == "gguf"
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "ollama create export -f Modelfile" in card
    assert 'SYSTEM """Ești un asistent juridic."""' in (out / "Modelfile").read_text(encoding="utf-8")
