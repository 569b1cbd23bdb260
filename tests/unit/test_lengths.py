from antrenor.data.lengths import default_max_length, formatted_texts, token_lengths, truncate_to_tokens


def test_chat_records_are_measured_with_the_chat_template(tiny_tokenizer):
    record = {"instruction": "unu doi", "input": "", "output": "trei"}
    (text,) = formatted_texts([record], "instruction", tiny_tokenizer)
    assert text == "<|user|>unu doi<|end|><|assistant|>trei<|end|>"
    # <|user|>unu doi<|end|> splits into '<|user|>unu' (unknown) + 'doi' + '<|end|>' ... count is what the model sees
    assert token_lengths([record], "instruction", tiny_tokenizer) == [len(tiny_tokenizer(text, add_special_tokens=False)["input_ids"])]


def test_lengths_for_plain_kinds(tiny_tokenizer):
    assert token_lengths([{"text": "a b c"}, {"text": "a"}], "text", tiny_tokenizer) == [3, 1]
    assert token_lengths([{"text_a": "a b", "text_b": "c", "score": 1.0}], "pairs", tiny_tokenizer) == [3]


def test_truncation_keeps_original_characters(tiny_tokenizer):
    text = "a  b\tc d e"
    assert truncate_to_tokens(text, tiny_tokenizer, 3) == "a  b\tc"
    assert truncate_to_tokens(text, tiny_tokenizer, 50) == text


def test_default_max_length_ignores_placeholder_limits(tiny_tokenizer):
    assert default_max_length(tiny_tokenizer) == 64

    class Huge:
        model_max_length = int(1e30)

    assert default_max_length(Huge()) == 2048


def test_feedback_is_measured_as_its_prompt_and_completion_conversation(tiny_tokenizer):
    feedback = {"prompt": "unu doi", "completion": "trei", "label": False}
    completion = {"prompt": "unu doi", "completion": "trei"}
    assert formatted_texts([feedback], "feedback", tiny_tokenizer) == formatted_texts([completion], "completion", tiny_tokenizer)
    assert token_lengths([feedback], "feedback", tiny_tokenizer) == token_lengths([completion], "completion", tiny_tokenizer)
