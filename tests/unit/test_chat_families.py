"""Assistant-only masks on the real chat templates of the supported families (tests/fixtures/chat_templates).

For every family the trained tokens are exactly what the model must write at inference: each answer in the
context `conversation_prompt_ids` gives generation, ending with an end-of-turn token generation stops on."""

import pytest

from antrenor.models.chat import (
    IGNORE,
    conversation_prompt_ids,
    encode_conversation_examples,
    end_of_turn_ids,
    render_text,
)
from tests.chat_families import FAMILIES, family_tokenizer

SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
Q1 = {"role": "user", "content": "What is the capital of France?"}
A1 = {"role": "assistant", "content": "The capital of France is Paris."}
Q2 = {"role": "user", "content": "Which city is the capital of Romania?"}
A2 = {"role": "assistant", "content": "Bucharest."}
# what each family's template makes the model write for an answer (history rendered without reasoning)
WRITTEN = {
    "llama3_1": "{}<|eot_id|>", "llama3_2": "{}<|eot_id|>", "qwen2_5": "{}<|im_end|>",
    "qwen3": "<think>\n\n</think>\n\n{}<|im_end|>", "gemma2": "{}<end_of_turn>", "gemma3": "{}<end_of_turn>",
    "mistral_v03": " {}</s>", "phi3": "{}<|end|>", "phi4_mini": "{}<|end|>",
    "deepseek_r1_distill_qwen": "\n</think>\n\n{}<｜end▁of▁sentence｜>", "smollm2": "{}<|im_end|>",
}
# families whose template renders history differently from a fresh answer: one example per answer
SPLIT_WITH_SYSTEM = {"qwen3", "mistral_v03", "deepseek_r1_distill_qwen"}


def trained_spans(examples):
    """[(example index, start, tokens)] for each run of trained tokens."""
    spans = []
    for number, (ids, labels) in enumerate(examples):
        assert len(ids) == len(labels) and all(label in (IGNORE, token) for label, token in zip(labels, ids))
        start = None
        for i, label in enumerate([*labels, IGNORE]):
            if label != IGNORE and start is None:
                start = i
            elif label == IGNORE and start is not None:
                spans.append((number, start, ids[start:i]))
                start = None
    return spans


def assert_trained_as_generated(messages, tokenizer, written, **template_kwargs):
    examples = encode_conversation_examples(messages, tokenizer, **template_kwargs)
    spans = trained_spans(examples)
    answers = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    assert len(spans) == len(answers)
    for (number, start, tokens), position in zip(spans, answers):
        decoded = tokenizer.decode(tokens, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        assert decoded == written.format(messages[position]["content"])
        assert tokens[-1] in end_of_turn_ids(tokenizer)  # generation stops on the last trained token
        # the context it is trained in is the prompt generation gives the model
        expected = render_text(messages[:position], tokenizer, True, **template_kwargs)
        assert examples[number][0][:start] == list(tokenizer(expected, add_special_tokens=False)["input_ids"])
        if not template_kwargs:
            assert examples[number][0][:start] == conversation_prompt_ids([messages[:position]], tokenizer)[0]
    return examples


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_single_turn_with_system_prompt_trains_the_answer_and_its_end_of_turn(family):
    tokenizer = family_tokenizer(family)
    examples = assert_trained_as_generated([SYSTEM, Q1, A1], tokenizer, WRITTEN[family])
    assert len(examples) == 1
    assert "You are a helpful assistant." in tokenizer.decode(examples[0][0])  # the system prompt is not lost


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_multi_turn_trains_every_answer_in_its_generation_context(family):
    tokenizer = family_tokenizer(family)
    with_system = assert_trained_as_generated([SYSTEM, Q1, A1, Q2, A2], tokenizer, WRITTEN[family])
    assert len(with_system) == (2 if family in SPLIT_WITH_SYSTEM else 1)
    without_system = assert_trained_as_generated([Q1, A1, Q2, A2], tokenizer, WRITTEN[family])
    assert len(without_system) == (2 if family in {"qwen3", "deepseek_r1_distill_qwen"} else 1)


def test_qwen3_reasoning_content_is_trained_in_the_think_block_of_each_answer():
    tokenizer = family_tokenizer("qwen3")
    first = {**A1, "reasoning_content": "Let me think about it."}
    second = {**A2, "reasoning_content": "The answer is a city in Europe."}
    examples = encode_conversation_examples([SYSTEM, Q1, first, Q2, second], tokenizer)
    decoded = [tokenizer.decode(s, skip_special_tokens=False) for _, _, s in trained_spans(examples)]
    assert decoded == ["<think>\nLet me think about it.\n</think>\n\nThe capital of France is Paris.<|im_end|>",
                       "<think>\nThe answer is a city in Europe.\n</think>\n\nBucharest.<|im_end|>"]
    # the second answer's history is rendered as Qwen3 renders it at inference: without the first one's reasoning
    assert "Let me think" not in tokenizer.decode(examples[1][0])


def test_qwen3_with_thinking_off_trains_the_answer_after_the_empty_think_block_of_the_prompt():
    tokenizer = family_tokenizer("qwen3")
    examples = assert_trained_as_generated([SYSTEM, Q1, A1, Q2, A2], tokenizer, "{}<|im_end|>", enable_thinking=False)
    prompt = render_text([SYSTEM, Q1], tokenizer, True, enable_thinking=False)
    assert prompt.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n") and len(examples) == 2


def test_deepseek_r1_distill_answers_close_the_reasoning_block_the_prompt_opens():
    tokenizer = family_tokenizer("deepseek_r1_distill_qwen")
    answer = {**A1, "reasoning_content": "Let me think about it."}
    (ids, _), = encode_conversation_examples([Q1, answer], tokenizer)
    assert tokenizer.decode(ids).endswith("<｜Assistant｜><think>\nLet me think about it.\n</think>\n\n"
                                          "The capital of France is Paris.<｜end▁of▁sentence｜>")


def test_mistral_system_prompt_stays_where_generation_puts_it():
    tokenizer = family_tokenizer("mistral_v03")
    examples = encode_conversation_examples([SYSTEM, Q1, A1, Q2, A2], tokenizer)
    texts = [tokenizer.decode(ids) for ids, _ in examples]
    assert texts[0] == "<s>[INST] You are a helpful assistant.\n\nWhat is the capital of France?[/INST] " \
                       "The capital of France is Paris.</s>"
    assert texts[1].endswith("[INST] You are a helpful assistant.\n\nWhich city is the capital of Romania?[/INST] "
                             "Bucharest.</s>")


def test_gemma2_system_prompt_is_merged_into_the_first_user_turn_for_training_and_generation():
    tokenizer = family_tokenizer("gemma2")
    prompt = tokenizer.decode(conversation_prompt_ids([[SYSTEM, Q1]], tokenizer)[0])
    assert prompt == ("<bos><start_of_turn>user\nYou are a helpful assistant.\n\nWhat is the capital of France?"
                      "<end_of_turn>\n<start_of_turn>model\n")
    (ids, _), = encode_conversation_examples([SYSTEM, Q1, A1], tokenizer)
    assert tokenizer.decode(ids).startswith(prompt)


def test_chat_template_kwargs_written_into_the_template_are_its_defaults_and_survive_saving(tmp_path):
    from transformers import AutoTokenizer

    from antrenor.models.chat import (
        GEMMA_CHAT_TEMPLATE,
        saved_template_kwargs,
        set_template_kwargs,
        template_name,
        with_template_kwargs,
    )
    from antrenor.models.loading import restore_template_kwargs

    tokenizer = family_tokenizer("qwen3")
    original = tokenizer.chat_template
    thinking_off = render_text([Q1], tokenizer, True, enable_thinking=False)
    thinking_on = render_text([Q1], tokenizer, True)
    assert thinking_off != thinking_on
    assert set_template_kwargs(tokenizer, {"enable_thinking": False, "no_such_variable": "a #} %} \"b\""}) == [
        "no_such_variable"]  # named in a warning
    assert render_text([Q1], tokenizer, True) == thinking_off  # the default now
    assert render_text([Q1], tokenizer, True, enable_thinking=True) == thinking_on  # an explicit value still wins
    assert saved_template_kwargs(tokenizer.chat_template) == {"enable_thinking": False,
                                                              "no_such_variable": "a #} %} \"b\""}
    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert reloaded.apply_chat_template([Q1], tokenize=False, add_generation_prompt=True) == thinking_off
    assert with_template_kwargs(tokenizer.chat_template, {}) == original  # replaced, never stacked
    assert template_name(with_template_kwargs(GEMMA_CHAT_TEMPLATE, {"x": 1})) == "Gemma's"

    base = family_tokenizer("qwen3")  # an adapter saved without its tokenizer renders with its base's
    restore_template_kwargs(base, {"chat_template_kwargs": {"enable_thinking": False}})
    assert render_text([Q1], base, True) == thinking_off
