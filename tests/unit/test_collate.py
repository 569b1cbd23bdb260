"""Packed rows: no attention across examples, and no example learns to predict the next one's start."""

import torch

from antrenor.training.collate import IGNORE, PackedCollator, PaddedCollator


def test_packed_row_logits_equal_each_example_alone(tiny_llama_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, attn_implementation="sdpa").eval()
    first, second = [10, 11, 12, 13, 14], [20, 21, 22]
    batch = PackedCollator(64, 0)([{"input_ids": first}, {"input_ids": second}])
    assert batch["position_ids"].tolist() == [[0, 1, 2, 3, 4, 0, 1, 2]]
    with torch.no_grad():
        # With a KV cache transformers does not detect packing (B would attend to A): training turns it off.
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits[0]
        alone_first = model(input_ids=torch.tensor([first])).logits[0]
        alone_second = model(input_ids=torch.tensor([second])).logits[0]
    assert torch.allclose(packed[:5], alone_first, atol=1e-5)
    assert torch.allclose(packed[5:], alone_second, atol=1e-5)


def test_training_loss_of_a_packed_row_equals_the_losses_of_its_examples(tiny_llama_dir):
    from transformers import AutoModelForCausalLM

    from antrenor.training.trainer import labelled_positions_loss

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval()
    first, second = [10, 11, 12, 13, 14], [20, 21, 22]
    packed = labelled_positions_loss(model, PackedCollator(64, 0)([{"input_ids": first}, {"input_ids": second}]))
    separate = [labelled_positions_loss(model, PackedCollator(64, 0)([{"input_ids": ids}])) for ids in (first, second)]
    weighted = (separate[0] * 4 + separate[1] * 2) / 6  # 4 and 2 predicted tokens
    assert torch.allclose(packed, weighted, atol=1e-5)


def test_packed_labels_ignore_each_example_start():
    batch = PackedCollator(64, 0)([{"input_ids": [1, 2, 3], "labels": [IGNORE, 2, 3]}, {"input_ids": [4, 5], "labels": [4, 5]}])
    assert batch["labels"].tolist() == [[IGNORE, 2, 3, IGNORE, 5]]


def test_padded_batch():
    batch = PaddedCollator(pad_token_id=0)([{"input_ids": [1, 2, 3]}, {"input_ids": [4]}])
    assert batch["input_ids"].tolist() == [[1, 2, 3], [4, 0, 0]]
    assert batch["labels"].tolist() == [[1, 2, 3], [4, IGNORE, IGNORE]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


def test_rows_are_filled_first_fit_and_padded_with_a_segment_of_their_own():
    collator = PackedCollator(row_length=6, pad_token_id=0)
    batch = collator([{"input_ids": [1, 2, 3, 4]}, {"input_ids": [5, 6]}, {"input_ids": [7, 8, 9]}])
    assert batch["input_ids"].tolist() == [[1, 2, 3, 4, 5, 6], [7, 8, 9, 0, 0, 0]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 3, 0, 1], [0, 1, 2, 0, 1, 2]]
    assert batch["labels"].tolist() == [[IGNORE, 2, 3, 4, IGNORE, 6], [IGNORE, 8, 9, IGNORE, IGNORE, IGNORE]]
    assert collator.real_tokens == 9


def test_validation_loss_from_answer_positions_equals_the_standard_evaluation(tiny_llama_dir, tmp_path):
    """The trainer's validation step skips the full-vocabulary logits but reports the same loss."""
    from transformers import AutoModelForCausalLM, TrainingArguments

    from antrenor.training.trainer import AntrenorTrainer

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval()
    rows = [{"input_ids": [10, 11, 12, 13, 14], "labels": [IGNORE, IGNORE, 12, 13, 14]},
            {"input_ids": [20, 21, 22], "labels": [IGNORE, 21, 22]}]
    args = TrainingArguments(str(tmp_path), report_to=[], per_device_eval_batch_size=2, use_cpu=True)
    collator = PaddedCollator(pad_token_id=1)
    losses = {}
    for selective in (True, False):
        trainer = AntrenorTrainer(model=model, args=args, data_collator=collator, eval_dataset=rows, selective_loss=selective)
        step = trainer.prediction_step(model, collator(rows), prediction_loss_only=False)
        losses[selective] = step[0]
        assert (step[1] is None) == selective  # the selective step keeps no logits
    assert torch.allclose(losses[True], losses[False], atol=1e-5)
