"""GGUF export of the embedded SmolLM2 (llama architecture, byte-level BPE; converted from a GGUF by transformers,
its tokenizer.json splits text with the GPT-2 regex, which the file names `gpt-2`):
read back by transformers, f16 gives the source logits and greedy answers, q8_0 stays within its
tolerance, and the read-back tokenizer encodes the Romanian probes to the same ids."""

import pytest

from antrenor.export.gguf_parity import GGUF_TOLERANCE

pytestmark = pytest.mark.integration

PROMPTS = ["Care este capitala României?", "Scrie un titlu scurt pentru: Guvernul a aprobat bugetul pe 2025.",
           "Numește trei râuri din România.", "Tradu în engleză: Bună dimineața!"]


@pytest.mark.parametrize("gguf_type", ["f16", "q8_0"])
def test_embedded_smollm2_exports_to_a_faithful_gguf(tmp_path, gguf_type):
    import gguf
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from antrenor.export.gguf_export import write_gguf
    from antrenor.export.gguf_parity import gguf_parity
    from antrenor.models.chat import conversation_prompt_ids, end_of_turn_ids
    from antrenor.models.embedded import smollm2_folder
    from antrenor.models.generation import left_padded, pad_token_id

    folder = smollm2_folder()
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    ids, mask = left_padded(conversation_prompt_ids([[{"role": "user", "content": p}] for p in PROMPTS], tokenizer),
                            pad_token_id(tokenizer))
    path = tmp_path / "model.gguf"
    written = write_gguf(model, tokenizer, path, gguf_type, name="smollm2-135m-instruct")
    found = gguf_parity(model, tokenizer, path, [{"input_ids": ids, "attention_mask": mask}],
                        set(end_of_turn_ids(tokenizer)), pad_token_id(tokenizer))
    assert found["relative_difference"] <= GGUF_TOLERANCE[gguf_type], found
    if gguf_type == "f16":  # the embedded weights are bf16-exact, so f16 holds them exactly
        assert found["same_greedy_answers"] == found["examples"] == 4
    assert found["tokenizer_probes_differing"] == [] and found["chat_template_equal"]
    reader = gguf.GGUFReader(path)
    assert reader.fields["tokenizer.ggml.pre"].contents() == "gpt-2"
    assert reader.fields["tokenizer.ggml.eot_token_id"].contents() == tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert written["size_mb"] < (270 if gguf_type == "f16" else 145)
