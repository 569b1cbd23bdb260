"""A tiny model of a family, trained on one answer with antrenor's SFT features, writes that answer through
antrenor's generation path and stops at the family's end-of-turn token."""

import pytest

from antrenor.models.chat import end_of_turn_ids, prompt_ids
from antrenor.models.generation import generate_answers
from antrenor.training.sft import build_features
from tests.chat_families import FAMILIES, family_model, family_tokenizer

RECORD = {"messages": [{"role": "system", "content": "You are a helpful assistant."},
                       {"role": "user", "content": "What is the capital of France?"},
                       {"role": "assistant", "content": "The capital of France is Paris."}]}


@pytest.mark.parametrize("family", ["llama3_2", "gemma3", "qwen3"])
def test_trained_answer_is_generated_and_generation_stops_at_the_end_of_turn(family):
    import torch

    torch.manual_seed(0)
    tokenizer = family_tokenizer(family)
    model = family_model(family, tokenizer)
    (feature,), dropped = build_features([RECORD], "chat", tokenizer, max_length=256)
    assert dropped == 0
    ids, labels = torch.tensor([feature["input_ids"]]), torch.tensor([feature["labels"]])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(60):
        optimizer.zero_grad()
        model(input_ids=ids, labels=labels).loss.backward()
        optimizer.step()
    model.eval()
    prompt = prompt_ids([RECORD], "chat", tokenizer)
    assert generate_answers(model, tokenizer, prompt, max_new_tokens=40) == ["The capital of France is Paris."]
    with torch.inference_mode():
        output = model.generate(torch.tensor(prompt), attention_mask=torch.ones(1, len(prompt[0]), dtype=torch.long),
                                max_new_tokens=40, do_sample=False, eos_token_id=end_of_turn_ids(tokenizer),
                                pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
    written = output[0, len(prompt[0]):].tolist()
    assert written == [t for t in feature["labels"] if t != -100]  # exactly the trained tokens, and then it stopped
    assert tokenizer.convert_ids_to_tokens(written[-1]) == FAMILIES[family].end_of_turn
