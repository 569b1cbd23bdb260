from antrenor.data.dedup import find_exact_duplicates, find_near_duplicates, shingles
from antrenor.data.records import Record

LONG = ("Prezentul cod reglementează raporturile patrimoniale și pe cele nepatrimoniale dintre persoane, "
        "ca subiecte de drept civil, precum și regulile de competență și de judecare a cauzelor civile")


def rec(index, text, split=None, label=None, kind="text"):
    data = {"text": text} if label is None else {"text": text, "label": label}
    return Record(index, "f.jsonl", index + 1, "line", data, split)


def near(records, kind="text", threshold=0.8):
    return find_near_duplicates(records, kind, threshold=threshold, ngram=3, num_perm=128)


def test_exact_duplicates_keep_the_first():
    records = [rec(0, "a b"), rec(1, "c d"), rec(2, "a b")]
    (dup,) = find_exact_duplicates(records, "text")
    assert (dup.index, dup.of, dup.exact) == (2, 0, True)


def test_exact_classification_keys_on_text_so_label_conflicts_are_found():
    records = [rec(0, "același text", label="pozitiv"), rec(1, "același text", label="negativ")]
    (dup,) = find_exact_duplicates(records, "classification")
    assert (dup.index, dup.of) == (1, 0)


def test_near_duplicates_found_and_distinct_texts_kept():
    variant = LONG[: -len("civile")] + "penale"  # one word changed
    other = "Statul român este național, suveran și independent, unitar și indivizibil, iar forma de guvernământ este republica"
    found = near([rec(0, LONG), rec(1, other), rec(2, variant)])
    assert [(d.index, d.of) for d in found] == [(2, 0)]
    assert 0.8 <= found[0].similarity < 1.0


def test_threshold_decides():
    variant = " ".join(LONG.split()[:20]) + " cu totul alte cuvinte adăugate aici la sfârșit de propoziție acum"
    assert near([rec(0, LONG), rec(1, variant)], threshold=0.95) == []


def test_validation_record_repeating_train_is_the_one_dropped_whatever_the_order():
    # The validation copy comes first in the input, but train has priority: no contamination.
    records = [rec(0, LONG, split="validation"), rec(1, LONG.replace("civil,", "civil;"), split="train")]
    (dup,) = near(records)
    assert (dup.index, dup.of) == (0, 1)
    (exact,) = find_exact_duplicates([rec(0, LONG, split="test"), rec(1, LONG, split="train")], "text")
    assert (exact.index, exact.of) == (0, 1)


def test_shingles_keep_diacritics_and_handle_short_texts():
    assert shingles("Țară mică", 3) == {"țară mică".encode()}
    assert len(shingles("unu doi trei patru", 3)) == 2
