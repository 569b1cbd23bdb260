"""The template check before training: marked examples, end-of-turn tokens, and a refusal for each problem."""

import pytest

from antrenor.errors import ConfigError
from antrenor.models.template_check import check_chat_template, require_sound_template
from tests.chat_families import family_tokenizer

RECORDS = [{"messages": [{"role": "system", "content": "You are a helpful assistant."},
                         {"role": "user", "content": "What is the capital of France?"},
                         {"role": "assistant", "content": "The capital of France is Paris."}]},
           {"instruction": "Which city is the capital of Romania?", "output": "Bucharest."}]


def test_report_marks_the_trained_spans_and_names_the_end_of_turn_token():
    tokenizer = family_tokenizer("llama3_2")
    report = check_chat_template(RECORDS[:1], "chat", tokenizer, max_length=512)
    assert report.problems == [] and "<|eot_id|>" in report.end_of_turn
    assert report.examples[0].endswith("<|start_header_id|>assistant<|end_header_id|>\n\n"
                                       "«The capital of France is Paris.<|eot_id|>»")
    require_sound_template(RECORDS[1:], "instruction", tokenizer, max_length=512)  # sound: no error


def test_refuses_when_training_and_inference_render_an_answer_differently():
    tokenizer = family_tokenizer("llama3_2")
    # a template whose generation prompt is not how it renders answered turns
    tokenizer.chat_template = ("{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>{{ m['content'] }}"
                               "<|eot_id|>{% endfor %}{% if add_generation_prompt %}<|start_header_id|>model"
                               "<|end_header_id|>{% endif %}")
    with pytest.raises(ConfigError) as error:
        require_sound_template(RECORDS[1:], "instruction", tokenizer, max_length=512)
    assert "training and inference render it differently" in str(error.value.problems)


def test_refuses_an_answer_that_max_length_would_cut_in_preference_training():
    tokenizer = family_tokenizer("qwen2_5")
    pairs = [{"prompt": "What is the capital of France?", "chosen": "Paris.", "rejected": "Bucharest."}]
    report = check_chat_template(pairs, "preference", tokenizer, max_length=20)
    assert report.longest > 20 and any("would cut its answer" in p for p in report.problems)
    # SFT never cuts: the example is left out, which is a warning
    sft = check_chat_template(RECORDS[1:], "instruction", tokenizer, max_length=20)
    assert sft.problems == [] and "left out of training" in sft.warnings[0]


def test_refuses_when_the_end_of_turn_marker_is_not_a_token_of_the_vocabulary():
    tokenizer = family_tokenizer("gemma3")  # ChatML markers are plain text in Gemma's vocabulary
    tokenizer.chat_template = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + "
                               "'<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}"
                               "{{ '<|im_start|>assistant\n' }}{% endif %}")
    with pytest.raises(ConfigError) as error:
        require_sound_template(RECORDS[1:], "instruction", tokenizer, max_length=512)
    assert "'<|im_end|>', which is not an end-of-turn token" in str(error.value.problems)


def test_refuses_when_no_end_of_turn_token_can_be_trained():
    tokenizer = family_tokenizer("llama3_2")
    tokenizer.chat_template = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                               "{% if add_generation_prompt %}assistant:{% endif %}")
    tokenizer.eos_token = None
    with pytest.raises(ConfigError) as error:
        require_sound_template(RECORDS[1:], "instruction", tokenizer, max_length=512)
    assert "without an end-of-turn token" in str(error.value.problems)


def test_train_dry_run_prints_the_check_and_loads_no_model(tmp_path, sft_data, tiny_llama_dir, capsys):
    import json

    from antrenor.cli import main

    args = ["train", "--data", str(sft_data), "--model", str(tiny_llama_dir), "--task", "sft",
            "--output", str(tmp_path / "out"), "--dry-run", "--json"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["problems"] == [] and "<|end|>" in report["end_of_turn"] and len(report["examples"]) == 2
    assert report["examples"][0].endswith("<|assistant|>«" + report["examples"][0].split("«")[1])
    assert report["examples"][0].endswith("<|end|>»")
    assert not (tmp_path / "out").exists()  # nothing written
