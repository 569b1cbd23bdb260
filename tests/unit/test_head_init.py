"""Linear probing, then fine-tuning: a new classification head starts from a probe fitted on the frozen model."""

import numpy as np
import pytest
import torch

from antrenor.training import classify


def bert_classifier(folder, num_labels, problem_type="single_label_classification"):
    from transformers import AutoModelForSequenceClassification, set_seed

    set_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(folder, num_labels=num_labels, problem_type=problem_type)


@pytest.fixture(scope="module")
def bert_dir(tiny_bert_dir, tmp_path_factory):
    """The tiny BERT with weights 10x the usual initial scale, so its frozen features tell the marker words apart."""
    import shutil

    from transformers import BertForMaskedLM

    folder = tmp_path_factory.mktemp("tiny-bert-wide")
    model = BertForMaskedLM.from_pretrained(tiny_bert_dir)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "LayerNorm" not in name:
                parameter.mul_(10)
    model.save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (tiny_bert_dir / name).exists():
            shutil.copy(tiny_bert_dir / name, folder / name)
    return folder


def features_for(folder, rows, label2id, kind):
    from transformers import AutoTokenizer, DataCollatorWithPadding

    tokenizer = AutoTokenizer.from_pretrained(folder)
    features, _ = classify.build_features(rows, tokenizer, 32, label2id, kind)
    return features, DataCollatorWithPadding(tokenizer)


def logits_of(model, features, collator):
    model.eval()
    with torch.no_grad():
        batch = collator([{k: v for k, v in f.items() if k != "labels"} for f in features])
        return model(**batch).logits.numpy()


def rows(count, labels):
    rng = np.random.default_rng(0)
    markers = {"a": "w1 w2", "b": "w3 w4", "c": "w5 w6", "d": "w7 w8"}
    return [{"text": f"{markers[labels[i % len(labels)]]} " + " ".join(f"w{rng.integers(10, 100)}" for _ in range(5)),
             "label": labels[i % len(labels)]} for i in range(count)]


@pytest.mark.parametrize("present", [("a", "b"), ("a", "b", "c")])
def test_the_head_predicts_exactly_what_the_fitted_probe_predicts(bert_dir, present):
    train = rows(60, present)
    label2id = {"a": 0, "b": 1, "c": 2, "d": 3}  # "d" (and "c" in the binary case) never occurs in train
    model = bert_classifier(bert_dir, 4)
    features, collator = features_for(bert_dir, train, label2id, "single_label_classification")
    before = logits_of(model, features, collator)
    fit = classify.init_head_from_probe(model, features, collator, "single_label_classification")
    after = logits_of(model, features, collator)
    truth = np.array([f["labels"] for f in features])
    assert fit is not None and fit > 1 / len(present) + 0.1  # above chance: the marker words show in the features
    assert (after.argmax(-1) == truth).mean() == pytest.approx(fit)  # the head is the probe, copied exactly
    assert not np.allclose(before, after)
    missing = [label2id[x] for x in "abcd" if x not in present]
    assert (after[:, missing].max(axis=0) < after.max(axis=1).min() - 5).all()  # unseen labels start unlikely


def test_regression_head_gets_the_ridge_fit(bert_dir):
    train = [{"text": r["text"], "score": float(i % 4)} for i, r in enumerate(rows(48, ("a", "b", "c", "d")))]
    model = bert_classifier(bert_dir, 1, "regression")
    features, collator = features_for(bert_dir, train, {}, "regression")
    fit = classify.init_head_from_probe(model, features, collator, "regression")
    predicted = logits_of(model, features, collator).reshape(-1)
    truth = np.array([f["labels"] for f in features])
    r2 = 1 - ((truth - predicted) ** 2).sum() / ((truth - truth.mean()) ** 2).sum()
    assert fit == pytest.approx(r2, abs=1e-4) and fit > 0.1  # above the 0 of predicting the mean


def test_no_probe_where_it_does_not_apply(tiny_bert_dir, tiny_llama_dir):
    features, collator = features_for(tiny_bert_dir, rows(20, ("a",)), {"a": 0, "b": 1}, "single_label_classification")
    assert classify.init_head_from_probe(bert_classifier(tiny_bert_dir, 2), features, collator,
                                         "single_label_classification") is None  # one class: nothing to separate
    assert classify.init_head_from_probe(bert_classifier(tiny_bert_dir, 2), features, collator,
                                         "multi_label_classification") is None
    decoder = bert_classifier(tiny_llama_dir, 2)  # a decoder's score layer runs on every token, then pools
    decoder.config.pad_token_id = 1
    llama_features, llama_collator = features_for(tiny_llama_dir, rows(20, ("a", "b")), {"a": 0, "b": 1},
                                                  "single_label_classification")
    assert classify.head_layer(decoder, 2) is decoder.score
    assert classify.init_head_from_probe(decoder, llama_features, llama_collator, "single_label_classification") is None


def test_a_checkpoint_that_is_already_a_classifier_keeps_its_head(tiny_bert_dir, tmp_path):
    assert not classify.trained_head_in_checkpoint(bert_classifier(tiny_bert_dir, 2))  # saved as a masked LM
    bert_classifier(tiny_bert_dir, 2).save_pretrained(tmp_path)
    assert classify.trained_head_in_checkpoint(bert_classifier(tmp_path, 2))
