"""The SFT loss mask covers exactly the assistant answers and their end-of-turn tokens."""

import pytest

from antrenor.models.chat import (CHATML_CHAT_TEMPLATE, GEMMA_CHAT_TEMPLATE, IGNORE, PLAIN_CHAT_TEMPLATE,
                                  encode_conversation, end_of_turn_ids, ensure_chat_template)
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
    assert ensure_chat_template(tokenizer) is True and tokenizer.chat_template == PLAIN_CHAT_TEMPLATE


def marker_tokenizer(markers: list[str], eos: str):
    """A word-level tokenizer whose turn markers (and EOS) are special tokens, like a real family's vocabulary."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["[UNK]", "[PAD]", "<bos>", eos, *markers, "user", "model", "assistant", "system", "User:", "Assistant:",
             "System:"] + [f"w{i}" for i in range(20)]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    isolated = [pre_tokenizers.Split(s, "isolated") for s in (*markers, eos, "<bos>")]
    backend.pre_tokenizer = pre_tokenizers.Sequence(isolated + [pre_tokenizers.WhitespaceSplit()])
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]", bos_token="<bos>",
                                   eos_token=eos, additional_special_tokens=markers)


CONVERSATION = [{"role": "system", "content": "w9"}, {"role": "user", "content": "w1 w2"},
                {"role": "assistant", "content": "w3 w4"}, {"role": "user", "content": "w5"},
                {"role": "assistant", "content": "w6"}]


@pytest.mark.parametrize("markers, eos, template, end_of_turn", [
    (["<start_of_turn>", "<end_of_turn>"], "<eos>", GEMMA_CHAT_TEMPLATE, "<end_of_turn>"),
    (["<|im_start|>", "<|im_end|>"], "<|endoftext|>", CHATML_CHAT_TEMPLATE, "<|im_end|>"),
    ([], "</s>", PLAIN_CHAT_TEMPLATE, "</s>"),
], ids=["gemma-markers", "chatml-markers", "no-markers"])
def test_a_template_less_tokenizer_gets_the_template_its_vocabulary_supports(markers, eos, template, end_of_turn):
    tokenizer = marker_tokenizer(markers, eos)
    assert ensure_chat_template(tokenizer) is True and tokenizer.chat_template == template
    ids, labels = encode_conversation(CONVERSATION, tokenizer)
    # each answer is trained up to and including a special end-of-turn token, which generation stops on
    assert labelled(tokenizer, ids, labels) == ["w3", "w4", end_of_turn, "w6", end_of_turn]
    assert tokenizer.convert_tokens_to_ids(end_of_turn) in end_of_turn_ids(tokenizer)
    answer = [i for i, label in zip(ids, labels) if label != IGNORE]
    assert tokenizer.decode(answer, skip_special_tokens=True).split() == ["w3", "w4", "w6"]  # no marker text


def test_gemma_template_merges_the_system_prompt_into_the_first_user_turn():
    tokenizer = marker_tokenizer(["<start_of_turn>", "<end_of_turn>"], "<eos>")
    ensure_chat_template(tokenizer)
    ids, _ = encode_conversation(CONVERSATION, tokenizer)
    assert tokenizer.convert_ids_to_tokens(ids)[:9] == [
        "<bos>", "<start_of_turn>", "user", "w9", "w1", "w2", "<end_of_turn>", "<start_of_turn>", "model"]
