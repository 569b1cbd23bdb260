from collections import Counter

from antrenor.data.records import Record
from antrenor.data.split import assign_splits


def make(n, split=None, labels=None):
    return [Record(i, "f", i + 1, "line", {"text": str(i)}, split) for i in range(n)]


def splits_of(records):
    return [r.split for r in records]


def test_default_80_10_10_and_seeded():
    a, b, c = make(1000), make(1000), make(1000)
    assign_splits(a, validation=0.1, test=0.1, seed=1)
    assign_splits(b, validation=0.1, test=0.1, seed=1)
    assign_splits(c, validation=0.1, test=0.1, seed=2)
    assert Counter(splits_of(a)) == {"train": 800, "validation": 100, "test": 100}
    assert splits_of(a) == splits_of(b) and splits_of(a) != splits_of(c)


def test_stratified_keeps_label_proportions_and_totals():
    records = make(300)
    labels = {r.index: ("rare" if r.index < 30 else "a" if r.index < 150 else "b") for r in records}
    assign_splits(records, validation=0.1, test=0.1, seed=0, labels=labels)
    per = Counter((labels[r.index], r.split) for r in records)
    assert per[("rare", "validation")] == 3 and per[("rare", "test")] == 3
    assert per[("a", "validation")] == 12 and per[("b", "test")] == 15
    assert Counter(splits_of(records)) == {"train": 240, "validation": 30, "test": 30}


def test_every_label_keeps_a_training_record():
    records = make(12)
    labels = {r.index: f"label{r.index % 6}" for r in records}  # 6 labels x 2 records
    assign_splits(records, validation=0.3, test=0.3, seed=0, labels=labels)
    train_labels = {labels[r.index] for r in records if r.split == "train"}
    assert train_labels == set(labels.values())


def test_existing_splits_are_kept_and_missing_validation_is_carved_from_train():
    records = make(100, split="train") + [Record(100 + i, "g", i + 1, "line", {}, "test") for i in range(20)]
    origin = assign_splits(records, validation=0.1, test=0.1, seed=0)
    counts = Counter(splits_of(records))
    assert counts == {"train": 90, "validation": 10, "test": 20}
    assert all(r.split == "test" for r in records[100:])
    assert origin["test"] == "from the input" and "10%" in origin["validation"]


def test_fully_split_input_is_untouched():
    records = make(5, "train") + make(2, "validation") + make(2, "test")
    before = splits_of(records)
    assign_splits(records, validation=0.1, test=0.1, seed=0)
    assert splits_of(records) == before


def test_zero_fractions_put_everything_in_train():
    records = make(10)
    assign_splits(records, validation=0.0, test=0.0, seed=0)
    assert set(splits_of(records)) == {"train"}
