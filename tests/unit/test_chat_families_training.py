"""A tiny model of each family, trained on one answer with antrenor's SFT features, writes that answer through
antrenor's generation path and stops at the family's end-of-turn token; a Qwen3 model trained with thinking off
is prompted with thinking off wherever its folder is loaded."""

import pytest

from antrenor.models.chat import end_of_turn_ids, prompt_ids, render_ids, render_text
from antrenor.models.generation import generate_answers
from antrenor.training.sft import build_features
from tests.chat_families import FAMILIES, family_model, family_tokenizer

RECORD = {"messages": [{"role": "system", "content": "You are a helpful assistant."},
                       {"role": "user", "content": "What is the capital of France?"},
                       {"role": "assistant", "content": "The capital of France is Paris."}]}


def train_on(feature, model, steps=60):
    import torch

    ids, labels = torch.tensor([feature["input_ids"]]), torch.tensor([feature["labels"]])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        model(input_ids=ids, labels=labels).loss.backward()
        optimizer.step()
    model.eval()
    return model


# every family of tests/chat_families.py: Llama 3.1/3.2 and SmolLM2 (LlamaConfig), Qwen2.5 and DeepSeek-R1-Distill-
# Qwen (Qwen2Config), Qwen3, Gemma 2 (system prompt merged into the first user turn), Gemma 3, Mistral v0.3 (system
# prompt folded into the last user turn), Phi-3 and Phi-4-mini (Phi3Config)
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_trained_answer_is_generated_and_generation_stops_at_the_end_of_turn(family):
    import torch

    torch.manual_seed(0)
    tokenizer = family_tokenizer(family)
    model = family_model(family, tokenizer)
    assert type(model.config).__name__ == FAMILIES[family].architecture
    (feature,), dropped = build_features([RECORD], "chat", tokenizer, max_length=256)
    assert dropped == 0
    prompt = prompt_ids([RECORD], "chat", tokenizer)
    trained = [t for t in feature["labels"] if t != -100]
    context = feature["input_ids"][: feature["labels"].index(trained[0])]
    assert context == prompt[0]  # trained in the context generation gives it
    assert "You are a helpful assistant." in tokenizer.decode(prompt[0])  # the system prompt reaches the model
    train_on(feature, model)
    assert generate_answers(model, tokenizer, prompt, max_new_tokens=40) == ["The capital of France is Paris."]
    with torch.inference_mode():
        output = model.generate(torch.tensor(prompt), attention_mask=torch.ones(1, len(prompt[0]), dtype=torch.long),
                                max_new_tokens=40, do_sample=False, eos_token_id=end_of_turn_ids(tokenizer),
                                pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
    written = output[0, len(prompt[0]):].tolist()
    assert written == trained  # exactly the trained tokens, and then it stopped
    assert tokenizer.convert_ids_to_tokens(written[-1]) == FAMILIES[family].end_of_turn


def test_qwen3_trained_with_thinking_off_is_prompted_with_thinking_off_at_eval(tmp_path, tmp_path_factory):
    """`chat_template_kwargs: {enable_thinking: false}`: the trained example holds the empty think block Qwen3's
    template writes for thinking off, and the eval-time prompt of the trained folder is the training prompt."""
    import json

    from antrenor import train
    from antrenor.models.loading import load_tuned
    from antrenor.training.dry_run import dry_run
    from tests.conftest import prepared

    tokenizer = family_tokenizer("qwen3")
    base = tmp_path / "qwen3-base"
    family_model("qwen3", tokenizer).save_pretrained(base)
    tokenizer.save_pretrained(base)
    records = [{"messages": [{"role": "user", "content": f"What is {a} and {b}?"},
                             {"role": "assistant", "content": f"It is {a} {b}."}]}
               for a in ("one", "two", "three") for b in ("four", "five", "six", "seven")]
    data = prepared(tmp_path_factory, "qwen3-chat", records)
    output = tmp_path / "tuned"
    config = {"data": str(data), "model": str(base), "task": "sft", "method": "full", "output": str(output),
              "chat_template_kwargs": {"enable_thinking": False}, "max_steps": 1, "batch_size": 2,
              "effective_batch_size": 2, "report_to": [], "bf16": False, "validation": False}
    report = dry_run(config)  # the template check renders as training does
    assert report.problems == [] and all("<think>\n\n</think>\n\n«" in e for e in report.examples), report.examples
    train(config)
    assert json.loads((output / "manifest.json").read_text())["chat_template_kwargs"] == {"enable_thinking": False}

    record = records[0]
    question = record["messages"][:1]
    thinking_off = render_text(question, tokenizer, True, enable_thinking=False)
    assert thinking_off.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    loaded = load_tuned(str(output), "sft", trust_remote_code=False, allow_pickle=False, bf16=False)
    (at_eval,) = prompt_ids([record], "chat", loaded.tokenizer)
    assert at_eval == render_ids(question, tokenizer, True, enable_thinking=False)
    (feature,), _ = build_features([record], "chat", loaded.tokenizer, max_length=256)
    trained = [t for t in feature["labels"] if t != -100]
    assert feature["input_ids"][: feature["labels"].index(trained[0])] == at_eval  # training prompt = eval prompt
    assert loaded.tokenizer.decode(feature["input_ids"]).endswith(
        "<|im_start|>assistant\n<think>\n\n</think>\n\nIt is one four.<|im_end|>")
    assert loaded.tokenizer.decode(trained) == "It is one four.<|im_end|>"  # the model writes the answer only
    # thinking on (the default) trains the empty think block as part of the answer instead
    (default,), _ = build_features([record], "chat", tokenizer, max_length=256)
    assert tokenizer.decode([t for t in default["labels"] if t != -100]).startswith("<think>\n\n</think>\n\n")
