"""Preference pairs built from instruction data (prepare's build_preference), and the demo set built by
scripts/build_demo_data.py from data/demo/legal-titles."""

import importlib.util
import json
from pathlib import Path

import pytest

from antrenor import prepare
from antrenor.data.preference_pairs import build_pairs, feedback_records, truncated_answer
from antrenor.errors import ConfigError, DataError
from antrenor.records.problem import Problem
from tests.conftest import DEMO, REPO, read_jsonl, write_jsonl

TOPICS = ["contractul de vânzare", "dreptul de proprietate", "pedeapsa cu închisoarea", "impozitul pe venit",
          "citarea părților", "termenul de apel", "mandatul primarului", "moștenirea legală"]


def instructions(n: int = 8) -> list[dict]:
    return [{"instruction": f"Propune un titlu pentru articolul despre {TOPICS[i]}.", "input": f"Textul {i}",
             "output": f"Regulile privind {TOPICS[i]}", "code": f"c{i % 2}"} for i in range(n)]


def test_other_answer_rejects_another_records_answer_never_the_chosen():
    records = instructions() + [{"instruction": "Încă una", "input": "", "output": "REGULILE  privind contractul de vânzare"}]
    pairs = build_pairs(records, "instruction", "other_answer", seed=1, groups=[None] * len(records))
    answers = [r["output"] for r in records]
    for record, pair in zip(records, pairs):
        assert pair["prompt"] == record["instruction"] + (f"\n\n{record['input']}" if record["input"] else "")
        assert pair["chosen"] == record["output"]
        assert pair["rejected"] in answers
        assert pair["rejected"].casefold().split() != pair["chosen"].casefold().split()  # not even up to case/spaces
    assert pairs[0]["code"] == "c0"  # extra fields stay on the pair
    assert len({p["rejected"] for p in pairs}) > 2  # drawn, not one answer for all


def test_other_answer_is_seeded_and_stays_within_its_group():
    records = instructions()
    groups = ["train"] * 6 + ["test"] * 2
    first = build_pairs(records, "instruction", "other_answer", seed=3, groups=groups)
    assert build_pairs(records, "instruction", "other_answer", seed=3, groups=groups) == first
    others = [build_pairs(records, "instruction", "other_answer", seed=s, groups=groups) for s in range(4, 9)]
    assert any(o != first for o in others)
    assert first[6]["rejected"] == records[7]["output"] and first[7]["rejected"] == records[6]["output"]
    assert all(p["rejected"] not in {records[6]["output"], records[7]["output"]} for p in first[:6])


def test_identical_records_get_identical_pairs_so_dedup_still_catches_them():
    records = instructions() + [instructions()[2]]
    pairs = build_pairs(records, "instruction", "other_answer", seed=0, groups=[None] * len(records))
    assert pairs[-1] == pairs[2]


def test_other_answer_without_any_other_answer_is_a_problem():
    records = [{"prompt": "p1", "completion": "Același răspuns"}, {"prompt": "p2", "completion": "același  răspuns"}]
    outcomes = build_pairs(records, "completion", "other_answer", seed=0, groups=[None, None])
    assert all(isinstance(o, Problem) and o.code == "no_other_answer" and "truncated" in o.fix for o in outcomes)


def test_truncated_keeps_about_half_the_words_and_rejects_one_word_answers():
    records = [{"prompt": "p", "completion": "unu doi trei patru cinci"}, {"prompt": "q", "completion": "  Singur "},
               {"prompt": "r", "completion": "primul rând\nal doilea rând"}]
    long, single, lines = build_pairs(records, "completion", "truncated", seed=0, groups=[None] * 3)
    assert long == {"prompt": "p", "chosen": "unu doi trei patru cinci", "rejected": "unu doi"}
    assert isinstance(single, Problem) and single.code == "answer_too_short_to_truncate"
    assert "single word" in single.reason and "other_answer" in single.fix
    assert lines["rejected"] == "primul rând"  # cut at a word end, original spacing kept
    assert truncated_answer("a b") == "a" and truncated_answer("a b c") == "a" and truncated_answer("a") is None


def test_chat_prompt_is_the_conversation_before_the_last_answer():
    one_turn = {"messages": [{"role": "user", "content": "Salut"}, {"role": "assistant", "content": "Bună ziua!"}]}
    two_turns = {"messages": [{"role": "system", "content": "Fii scurt."}, {"role": "user", "content": "Salut"},
                              {"role": "assistant", "content": "Bună"}, {"role": "user", "content": "Ce faci?"},
                              {"role": "assistant", "content": "Bine, mulțumesc de întrebare"}]}
    first, second = build_pairs([one_turn, two_turns], "chat", "truncated", seed=0, groups=[None, None])
    assert first == {"prompt": "Salut", "chosen": "Bună ziua!", "rejected": "Bună"}
    assert second["prompt"] == two_turns["messages"][:4] and second["chosen"] == "Bine, mulțumesc de întrebare"
    no_user = {"messages": [{"role": "assistant", "content": "Bună ziua, cu ce vă ajut?"}]}
    (problem,) = build_pairs([no_user], "chat", "truncated", seed=0, groups=[None])
    assert isinstance(problem, Problem) and problem.code == "no_prompt"


def test_feedback_records_label_the_chosen_true_and_the_rejected_false():
    good, bad = feedback_records({"prompt": "p", "chosen": "da", "rejected": "nu", "code": "c"})
    assert good == {"prompt": "p", "completion": "da", "label": True, "code": "c"}
    assert bad == {"prompt": "p", "completion": "nu", "label": False, "code": "c"}


def run_prepare(tmp_path: Path, rows: list[dict], **settings) -> tuple:
    source = write_jsonl(tmp_path / "input.jsonl", rows)
    out = tmp_path / "out"
    result = prepare({"input": [str(source)], "output": str(out), "split": {"validation": 0.25, "test": 0.25}, **settings})
    return result, out


def test_prepare_builds_preference_records_with_the_report(tmp_path: Path):
    rows = instructions() + [instructions()[3]] + [{"instruction": "Un titlu?", "input": "", "output": "Titlu"}]
    result, out = run_prepare(tmp_path, rows, build_preference={"rejected": "truncated"})
    assert result.kind == "preference"
    written = [r for split in ("train", "validation", "test") for r in read_jsonl(out / f"{split}.jsonl")]
    assert sorted(r["chosen"] for r in written) == sorted(r["output"] for r in instructions())
    assert all(list(r)[:3] == ["prompt", "chosen", "rejected"] and r["chosen"].startswith(r["rejected"] + " ")
               for r in written)
    rejects = {r["line"]: r["code"] for r in read_jsonl(out / "rejects.jsonl")}
    assert rejects == {9: "exact_duplicate", 10: "answer_too_short_to_truncate"}
    report = (out / "data_report.md").read_text(encoding="utf-8")
    assert "Kind: **preference** (pairs built from instruction records" in report
    assert "answer_too_short_to_truncate" in report
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["kind"] == "preference" and manifest["config"]["build_preference"]["rejected"] == "truncated"


def test_prepare_writes_feedback_pairs_together_in_one_split(tmp_path: Path, tiny_tokenizer_dir):
    result, out = run_prepare(tmp_path, instructions(), model=str(tiny_tokenizer_dir),
                              build_preference={"rejected": "other_answer", "output": "feedback"})
    assert result.kind == "feedback" and sum(result.splits.values()) == 16
    for split in ("train", "validation", "test"):
        rows = read_jsonl(out / f"{split}.jsonl")
        assert [r["label"] for r in rows] == [True, False] * (len(rows) // 2)  # each pair: good then bad, same split
        assert all(good["prompt"] == bad["prompt"] and good["completion"] != bad["completion"]
                   for good, bad in zip(rows[::2], rows[1::2]))
    assert result.summary["labels"]["train"] == {"False": result.splits["train"] // 2, "True": result.splits["train"] // 2}
    assert result.summary["token_lengths"]["train"]["records"] == result.splits["train"]


def test_build_preference_needs_instruction_chat_or_completion_records(tmp_path: Path):
    with pytest.raises(ConfigError, match="not classification"):
        run_prepare(tmp_path, [{"text": "t", "label": "a"}], kind="classification",
                    build_preference={"rejected": "truncated"})
    with pytest.raises(DataError, match="cannot make pairs from classification"):
        run_prepare(tmp_path, [{"text": f"text {i}", "label": "a"} for i in range(4)],
                    build_preference={"rejected": "truncated"})


def load_demo_builder():
    spec = importlib.util.spec_from_file_location("build_demo_data", REPO / "scripts" / "build_demo_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_preference_set_is_what_the_builder_makes_from_legal_titles(tmp_path: Path):
    builder = load_demo_builder()
    titles = {split: read_jsonl(DEMO / "legal-titles" / f"{split}.jsonl") for split in ("train", "test")}
    titles["test"] = titles["test"][:40]  # the builder keeps DPO's demo small: the first 40 of the 172 test requests
    builder.write_legal_preference(tmp_path, builder.build_legal_preference(titles, seed=13))
    for name in ("train.jsonl", "test.jsonl", "LICENSE.md"):
        assert (tmp_path / "legal-preference" / name).read_bytes() == (DEMO / "legal-preference" / name).read_bytes(), name
    for split, records in titles.items():
        pairs = read_jsonl(DEMO / "legal-preference" / f"{split}.jsonl")
        assert [p["chosen"] for p in pairs] == [r["output"] for r in records]  # every title request, in order
        same_code_titles = {(r["code"], r["output"]) for r in records}
        assert all((p["code"], p["rejected"]) in same_code_titles for p in pairs)  # a real title of the same split and code
        assert all(builder.same_title_key(p["rejected"]) != builder.same_title_key(p["chosen"]) for p in pairs)
