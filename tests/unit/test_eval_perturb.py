import copy
import re
import unicodedata

import pytest

from antrenor.evaluation.perturb import PERTURBATIONS, perturb_record, perturb_text
from antrenor.records.normalize import TextNormalizer

TEXT = "Bună ziua, mă numesc Ștefan și locuiesc în „Țara Oașului”! Ce faceți? Îmi spuneți unde e gara?"
ROMANIAN_DIACRITICS = set("ăâîșțşţĂÂÎȘȚŞŢ")
LONG_TEXT = " ".join(["Judecătoria a admis cererea reclamantului și a obligat pârâtul la plata cheltuielilor"] * 5)


@pytest.mark.parametrize("name", sorted(PERTURBATIONS))
def test_same_seed_and_index_give_the_same_text(name):
    assert perturb_text(LONG_TEXT, name, seed=7, index=3, rate=0.5) == perturb_text(LONG_TEXT, name, seed=7, index=3, rate=0.5)


@pytest.mark.parametrize("name", ["typos", "casing", "punctuation", "whitespace"])
def test_random_perturbations_differ_across_seeds_and_examples(name):
    by_seed = {perturb_text(LONG_TEXT, name, seed=seed, index=0, rate=0.5) for seed in range(5)}
    by_index = {perturb_text(LONG_TEXT, name, seed=0, index=index, rate=0.5) for index in range(5)}
    assert len(by_seed) > 1 and len(by_index) > 1


def test_adding_examples_does_not_change_earlier_perturbations():
    texts = [f"Exemplul numărul {i} are câteva cuvinte de modificat" for i in range(5)]
    first = [perturb_text(t, "typos", seed=1, index=i, rate=0.5) for i, t in enumerate(texts)]
    more = texts + ["Un exemplu nou adăugat la sfârșit"]
    again = [perturb_text(t, "typos", seed=1, index=i, rate=0.5) for i, t in enumerate(more)]
    assert again[:5] == first


def test_no_diacritics_strips_every_diacritic_and_nothing_else():
    stripped = perturb_text(TEXT + " ŞI ţara", "no_diacritics", seed=0, index=0)
    assert not ROMANIAN_DIACRITICS & set(stripped)
    assert stripped == "Buna ziua, ma numesc Stefan si locuiesc in „Tara Oasului”! Ce faceti? Imi spuneti unde e gara? SI tara"
    original = TEXT + " ŞI ţara"
    assert len(stripped) == len(original)
    assert all(a == b for a, b in zip(original, stripped) if a not in ROMANIAN_DIACRITICS)


def test_cedilla_maps_exactly_the_comma_below_letters():
    text = "ș ț Ș Ț ă â î Ă Â Î s t"
    assert perturb_text(text, "cedilla", seed=0, index=0) == "ş ţ Ş Ţ ă â î Ă Â Î s t"
    # the normalizer's cedilla fix undoes it exactly
    assert TextNormalizer(nfc=False, control_chars=False, whitespace=False)(perturb_text(TEXT, "cedilla", 0, 0)) == TEXT


def test_typos_at_rate_zero_change_nothing():
    assert perturb_text(LONG_TEXT, "typos", seed=3, index=0, rate=0.0) == LONG_TEXT


@pytest.mark.parametrize("seed", range(5))
def test_typos_at_rate_one_change_every_word_of_three_letters_or_more(seed):
    text = "Își țese în așteptare o pânză de aaa cu el la moară"
    typed = perturb_text(text, "typos", seed=seed, index=0, rate=1.0).split(" ")
    words = text.split(" ")
    assert len(typed) == len(words)
    for before, after in zip(words, typed):
        if len(before) >= 3:
            assert after != before and after[0] == before[0]
            assert abs(len(after) - len(before)) <= 1
        else:
            assert after == before


def test_casing_changes_only_case_and_uses_all_three_modes():
    seen = set()
    for index in range(30):
        cased = perturb_text(TEXT, "casing", seed=0, index=index, rate=0.5)
        assert cased.lower() == TEXT.lower()
        seen.add("upper" if cased == TEXT.upper() else "lower" if cased == TEXT.lower() else "words")
    assert seen == {"upper", "lower", "words"}


def test_casing_flips_each_word_at_rate_one():
    mixed = [perturb_text("Bună ziua lume", "casing", seed=0, index=i, rate=1.0) for i in range(30)]
    assert "bună Ziua Lume" in mixed


def _without_punctuation(text):
    return "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))


def test_punctuation_only_removes_and_adds_marks():
    assert perturb_text(TEXT, "punctuation", seed=0, index=0, rate=0.0) == TEXT
    for index in range(10):
        changed = perturb_text(TEXT, "punctuation", seed=0, index=index, rate=0.6)
        assert _without_punctuation(changed) == _without_punctuation(TEXT)
    removed_all = perturb_text(TEXT, "punctuation", seed=0, index=0, rate=1.0)
    # every original mark is gone; what remains was inserted after a word
    assert not set("„”") & set(removed_all)
    assert re.fullmatch(r"(\w+[,.;!?]? ?)+", removed_all)


def test_whitespace_only_changes_whitespace():
    assert perturb_text(TEXT, "whitespace", seed=0, index=0, rate=0.0) == TEXT
    spaced = [perturb_text(TEXT, "whitespace", seed=0, index=i, rate=0.5) for i in range(10)]
    assert all(s.split() == TEXT.split() for s in spaced)
    assert any("\t" in s for s in spaced) and any("\n" in s for s in spaced) and any("   " in s for s in spaced)
    assert any(s.startswith(" ") for s in spaced) and any(s.endswith(" ") for s in spaced)
    every_gap = perturb_text("a b c", "whitespace", seed=0, index=0, rate=1.0)
    assert every_gap.strip(" ") == "a\nb\nc" and every_gap.startswith(" ") and every_gap.endswith(" ")


def test_unknown_perturbation_lists_the_known_ones():
    with pytest.raises(ValueError) as caught:
        perturb_text("x", "emoji", seed=0, index=0)
    assert all(name in str(caught.value) for name in PERTURBATIONS)
    with pytest.raises(ValueError, match="rate"):
        perturb_text("x", "typos", seed=0, index=0, rate=1.5)


def test_perturb_record_changes_only_what_the_user_types_and_never_the_input():
    chat = {"messages": [{"role": "system", "content": "Ești un asistent"},
                         {"role": "user", "content": "Ce înseamnă țară?"},
                         {"role": "assistant", "content": "Înseamnă stat."}], "id": 4}
    instruction = {"instruction": "Rezumă textul în două fraze", "input": "Știri de azi", "output": "Rezumat scurt"}
    preference = {"prompt": "Scrie ștampila", "chosen": "Așa", "rejected": "Aș"}
    classification = {"text": "Este foarte bună", "label": "pozitiv", "labels_seen": ["pozitiv"]}
    for record, kind in [(chat, "chat"), (instruction, "instruction"), (preference, "preference"),
                         (classification, "classification")]:
        before = copy.deepcopy(record)
        perturbed = perturb_record(record, kind, "no_diacritics", seed=0, index=0)
        assert record == before
        assert perturbed is not record
    chat_out = perturb_record(chat, "chat", "no_diacritics", seed=0, index=0)
    assert [m["content"] for m in chat_out["messages"]] == ["Ești un asistent", "Ce inseamna tara?", "Înseamnă stat."]
    assert chat_out["id"] == 4
    assert perturb_record(instruction, "instruction", "no_diacritics", 0, 0) == {
        "instruction": "Rezuma textul in doua fraze", "input": "Stiri de azi", "output": "Rezumat scurt"}
    assert perturb_record(preference, "preference", "no_diacritics", 0, 0) == {
        "prompt": "Scrie stampila", "chosen": "Așa", "rejected": "Aș"}
    text_only = {"text": "Știință"}
    assert perturb_record(text_only, "text", "no_diacritics", 0, 0) == text_only


def test_perturb_record_copy_shares_nothing_with_the_input():
    record = {"text": "Este bună", "labels": ["a", "b"]}
    perturbed = perturb_record(record, "classification", "typos", seed=0, index=0, rate=1.0)
    perturbed["labels"].append("c")
    assert record["labels"] == ["a", "b"]


def test_perturb_record_with_one_user_field_equals_perturb_text():
    record = {"text": LONG_TEXT, "label": 1}
    perturbed = perturb_record(record, "classification", "typos", seed=2, index=9, rate=0.5)
    assert perturbed == {"text": perturb_text(LONG_TEXT, "typos", seed=2, index=9, rate=0.5), "label": 1}
