"""The SFT loss mask covers exactly the assistant answers and their end-of-turn tokens."""

from antrenor.models.chat import FALLBACK_CHAT_TEMPLATE, IGNORE, encode_conversation, ensure_chat_template
from tests.conftest import tiny_word_tokenizer


def labelled(tokenizer, ids, labels):
    return tokenizer.convert_ids_to_tokens([i for i, label in zip(ids, labels) if label != IGNORE])


def test_mask_covers_only_assistant_turns_and_their_end_tokens():
    tokenizer = tiny_word_tokenizer()
    messages = [{"role": "system", "content": "w9"}, {"role": "user", "content": "w1 w2"},
                {"role": "assistant", "content": "w3 w4"}, {"role": "user", "content": "w5"},
                {"role": "assistant", "content": "w6"}]
    ids, labels = encode_conversation(messages, tokenizer)
    assert tokenizer.convert_ids_to_tokens(ids) == [
        "<|system|>", "w9", "<|end|>", "<|user|>", "w1", "w2", "<|end|>", "<|assistant|>", "w3", "w4", "<|end|>",
        "<|user|>", "w5", "<|end|>", "<|assistant|>", "w6", "<|end|>"]
    assert labelled(tokenizer, ids, labels) == ["w3", "w4", "<|end|>", "w6", "<|end|>"]
    assert all(label in (IGNORE, token) for label, token in zip(labels, ids))


def test_template_without_end_token_gets_eos_appended():
    tokenizer = tiny_word_tokenizer()
    tokenizer.chat_template = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }} {% endfor %}"
                               "{% if add_generation_prompt %}<|assistant|>{% endif %}")
    ids, labels = encode_conversation([{"role": "user", "content": "w1"}, {"role": "assistant", "content": "w2"}], tokenizer)
    assert tokenizer.convert_ids_to_tokens(ids)[-1] == "<|end|>"
    assert labelled(tokenizer, ids, labels) == ["w2", "<|end|>"]


def test_fallback_template_is_added_only_when_missing():
    tokenizer = tiny_word_tokenizer()
    assert ensure_chat_template(tokenizer) is False
    tokenizer.chat_template = None
    assert ensure_chat_template(tokenizer) is True and tokenizer.chat_template == FALLBACK_CHAT_TEMPLATE
