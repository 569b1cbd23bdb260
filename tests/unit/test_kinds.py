import pytest

from antrenor.records.kinds import (
    RecordInvalid,
    apply_columns,
    detect_kind,
    map_texts,
    matching_kind,
    text_fields,
    to_canonical,
    to_messages,
)


@pytest.mark.parametrize("fields,kind", [
    ({"prompt": "p", "chosen": "a", "rejected": "b"}, "preference"),
    ({"messages": [{"role": "user", "content": "q"}]}, "chat"),
    ({"instruction": "i", "input": "", "output": "o"}, "instruction"),
    ({"prompt": "p", "completion": "c"}, "completion"),
    ({"prompt": "p", "completion": "c", "label": True}, "feedback"),
    ({"prompt": "p", "completion": "c", "label": "false"}, "feedback"),
    ({"text_a": "a", "text_b": "b", "score": 3.0}, "pairs"),
    ({"text": "t", "label": "x"}, "classification"),
    ({"text": "t", "labels": ["x", "y"]}, "classification"),
    ({"text": "t"}, "text"),
    ({"body": "t"}, None),
])
def test_matching_kind(fields, kind):
    assert matching_kind(fields) == kind


def test_aliases_and_user_columns_are_mapped():
    dolly = apply_columns({"instruction": "i", "context": "c", "response": "r"}, {})
    assert matching_kind(dolly) == "instruction" and dolly["input"] == "c" and dolly["output"] == "r"
    sts = apply_columns({"sentence1": "a", "sentence2": "b", "score": 1}, {})
    assert matching_kind(sts) == "pairs"
    mapped = apply_columns({"body": "t", "category": "c"}, {"text": "body", "label": "category"})
    assert mapped == {"text": "t", "label": "c"}


def test_detect_kind_by_majority_and_explains_failure():
    samples = [{"text": "a", "label": 1}] * 8 + [{"text": "b"}] * 2
    kind, why = detect_kind(samples)
    assert kind == "classification" and "8 of 10" in why
    kind, why = detect_kind([{"body": "x", "category": "y"}] * 5)
    assert kind is None and "body" in why and "columns" in why


def test_sharegpt_conversations_become_messages():
    fields = apply_columns({"conversations": [{"from": "human", "value": "Salut"}, {"from": "gpt", "value": "Bună!"}], "id": 7}, {})
    record = to_canonical(fields, "chat")
    assert record == {"messages": [{"role": "user", "content": "Salut"}, {"role": "assistant", "content": "Bună!"}], "id": 7}


def test_instruction_canonical_order_and_extras_kept():
    record = to_canonical({"output": "o", "instruction": "i", "code": "civil_code"}, "instruction")
    assert list(record) == ["instruction", "input", "output", "code"] and record["input"] == ""


@pytest.mark.parametrize("fields,kind,code", [
    ({"text": "t"}, "classification", "missing_field"),
    ({"text": "t", "label": 0.5}, "classification", "wrong_type"),
    ({"text": ["t"], "label": "a"}, "classification", "wrong_type"),
    ({"text": "t", "labels": []}, "classification", "wrong_type"),
    ({"messages": [{"role": "user", "content": "q"}]}, "chat", "no_assistant"),
    ({"messages": [{"role": "robot", "content": "q"}]}, "chat", "bad_role"),
    ({"messages": "hello"}, "chat", "wrong_type"),
    ({"prompt": "p", "chosen": "a", "rejected": "a"}, "preference", "same_answers"),
    ({"text_a": "a", "text_b": "b", "score": "high"}, "pairs", "wrong_type"),
    ({"instruction": "i"}, "instruction", "missing_field"),
    ({"prompt": "p", "completion": "c"}, "feedback", "missing_field"),
    ({"prompt": "p", "completion": "c", "label": "yes please"}, "feedback", "bad_label"),
    ({"prompt": "p", "completion": "c", "label": 2}, "feedback", "bad_label"),
    ({"prompt": "p", "completion": "c", "label": [True]}, "feedback", "bad_label"),
])
def test_invalid_records_get_a_code_and_a_fix(fields, kind, code):
    with pytest.raises(RecordInvalid) as caught:
        to_canonical(fields, kind)
    assert caught.value.problem.code == code and caught.value.problem.fix


def test_missing_field_names_the_column_mapping_fix():
    with pytest.raises(RecordInvalid) as caught:
        to_canonical({"text": "t"}, "classification")
    assert "columns.label" in caught.value.problem.fix


def test_multilabel_sorted_and_deduplicated_and_bool_labels_are_ints():
    assert to_canonical({"text": "t", "labels": ["b", "a", "b"]}, "classification")["labels"] == ["a", "b"]
    assert to_canonical({"text": "t", "label": True}, "classification")["label"] == 1
    assert to_canonical({"text_a": "a", "text_b": "b", "score": "3.8"}, "pairs")["score"] == 3.8


def test_to_messages_and_user_side_mapping():
    record = {"instruction": "Tradu:", "input": "Bună ziua", "output": "Good day"}
    assert to_messages(record, "instruction") == [
        {"role": "user", "content": "Tradu:\n\nBună ziua"}, {"role": "assistant", "content": "Good day"}]
    upper = map_texts(record, "instruction", str.upper, user_side_only=True)
    assert upper == {"instruction": "TRADU:", "input": "BUNĂ ZIUA", "output": "Good day"}
    chat = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    assert map_texts(chat, "chat", str.upper, user_side_only=True)["messages"][1]["content"] == "a"
    assert map_texts(chat, "chat", str.upper)["messages"][1]["content"] == "A"


@pytest.mark.parametrize("given,desirable", [
    (True, True), (False, False), (1, True), (0, False), ("true", True), ("FALSE", False), (" 1 ", True), ("0", False),
])
def test_feedback_labels_from_json_and_csv_become_booleans(given, desirable):
    record = to_canonical({"label": given, "completion": "c", "prompt": "p", "user": 3}, "feedback")
    assert record == {"prompt": "p", "completion": "c", "label": desirable, "user": 3}
    assert list(record) == ["prompt", "completion", "label", "user"] and record["label"] is desirable


def test_feedback_bad_label_says_what_a_label_means_and_how_to_fix_it():
    with pytest.raises(RecordInvalid) as caught:
        to_canonical({"prompt": "p", "completion": "c", "label": "positive"}, "feedback")
    assert "'positive'" in caught.value.problem.reason and "--kind completion" in caught.value.problem.fix


def test_feedback_texts_and_mapping_cover_prompt_messages():
    record = to_canonical({"prompt": [{"role": "user", "content": "q"}], "completion": "a", "label": 0}, "feedback")
    assert text_fields(record, "feedback") == ["q", "a"]
    assert map_texts(record, "feedback", str.upper) == {"prompt": [{"role": "user", "content": "Q"}], "completion": "A", "label": False}
    assert map_texts(record, "feedback", str.upper, user_side_only=True)["completion"] == "a"
