import csv
import json
import math
import random

import numpy as np
import pytest

from antrenor.human.agreement import interpret_alpha, krippendorff_alpha
from antrenor.human.report import write_report
from antrenor.human.statistics import (
    check_inputs,
    paired_differences,
    preference_agreement,
    preference_export,
    rater_statistics,
    rating_agreement,
    summarize,
    system_scores,
    win_rates,
)
from antrenor.reporting.blocks import plain_values

nan = np.nan
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 coders x 12 units, nan = missing
KRIPPENDORFF_2011 = [[1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
                     [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
                     [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
                     [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan]]
PUBLISHED_ALPHA = {"nominal": 0.743, "ordinal": 0.815, "interval": 0.849}


def _as_mapping(matrix):
    """coders x units array -> {unit: {coder: value}}, missing values left out."""
    return {unit: {coder: matrix[coder][unit] for coder in range(len(matrix)) if not math.isnan(matrix[coder][unit])}
            for unit in range(len(matrix[0]))}


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_alpha_matches_the_published_worked_example(level):
    for data in (KRIPPENDORFF_2011, _as_mapping(KRIPPENDORFF_2011)):
        result = krippendorff_alpha(data, level)
        assert result.alpha == pytest.approx(PUBLISHED_ALPHA[level], abs=5e-4)
        # unit 12 has one value (not pairable); the other 11 units hold the paper's n = 40 pairable values
        assert (result.pairable_units, result.pairable_values) == (11, 40)
        assert result.note is None


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_alpha_agrees_with_the_krippendorff_package_on_random_data(level):
    krippendorff = pytest.importorskip("krippendorff")
    rng = np.random.default_rng(7)
    for trial in range(5):
        truth = rng.integers(1, 6, size=30)
        noisy = truth[None, :] + rng.integers(-1, 2, size=(4, 30)) * (rng.random((4, 30)) < 0.5)
        data = np.clip(noisy, 1, 5).astype(float)
        data[rng.random(data.shape) < 0.25] = nan
        expected = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
        assert krippendorff_alpha(data, level).alpha == pytest.approx(expected, abs=1e-9), trial


def test_alpha_degenerate_cases_explain_themselves():
    everyone_says_four = {"u1": {"a": 4, "b": 4}, "u2": {"a": 4, "b": 4, "c": 4}}
    same = krippendorff_alpha(everyone_says_four, "ordinal")
    assert same.alpha is None and same.expected_disagreement == 0.0 and "same" in same.note
    assert interpret_alpha(same.alpha) == "undefined"

    one_rater_each = {"u1": {"a": 1}, "u2": {"b": 5}, "u3": {}}
    alone = krippendorff_alpha(one_rater_each, "interval")
    assert alone.alpha is None and alone.pairable_units == 0 and "two raters" in alone.note

    perfect = krippendorff_alpha({"u1": {"a": 1, "b": 1}, "u2": {"a": 5, "b": 5}, "u3": {"a": 3, "c": 3}}, "ordinal")
    assert perfect.alpha == 1.0

    # systematic disagreement is below chance
    assert krippendorff_alpha({"u1": {"a": 1, "b": 5}, "u2": {"a": 5, "b": 1}}, "interval").alpha < 0

    with pytest.raises(ValueError, match="level"):
        krippendorff_alpha(everyone_says_four, "ratio")
    with pytest.raises(ValueError, match="nominal"):
        krippendorff_alpha({"u1": {"a": "first", "b": "tie"}}, "ordinal")


def test_nominal_alpha_treats_labels_like_codes():
    codes = {"u1": {"a": 1, "b": 1}, "u2": {"a": 2, "b": 3}, "u3": {"a": 3, "b": 3, "c": 2}, "u4": {"a": 2, "b": 2}}
    names = {unit: {coder: ["first", "second", "tie"][value - 1] for coder, value in coders.items()}
             for unit, coders in codes.items()}
    assert krippendorff_alpha(names, "nominal").alpha == pytest.approx(krippendorff_alpha(codes, "nominal").alpha)


def test_interpretation_follows_krippendorffs_thresholds():
    assert [interpret_alpha(a) for a in (0.95, 0.8, 0.7, 0.667, 0.66, -0.2, float("nan"))] == [
        "reliable", "reliable", "tentative", "tentative", "unreliable", "unreliable", "undefined"]


def _rating(rater, item, system, score, criterion="correctness"):
    return {"rater": rater, "item": item, "system": system, "criterion": criterion, "score": score}


def _choice(rater, item, first, second, choice):
    return {"rater": rater, "item": item, "first": first, "second": second, "choice": choice}


def _items(count, systems=("base", "tuned")):
    return {f"i{i}": {"prompt": f"prompt {i}", "reference": None, "answers": {s: f"{s} answer {i}" for s in systems}}
            for i in range(count)}


def test_rating_agreement_uses_one_unit_per_answer_and_raters_as_coders():
    krippendorff = pytest.importorskip("krippendorff")
    rng = random.Random(3)
    raters, systems, items = ["ana", "dan", "ion"], ["base", "tuned"], [f"i{i}" for i in range(15)]
    ratings = [_rating(r, i, s, rng.randint(1, 5)) for i in items for s in systems for r in raters if rng.random() < 0.8]
    matrix = np.full((len(raters), len(items) * len(systems)), nan)
    for rating in ratings:
        unit = items.index(rating["item"]) * len(systems) + systems.index(rating["system"])
        matrix[raters.index(rating["rater"]), unit] = rating["score"]
    expected = krippendorff.alpha(reliability_data=matrix, level_of_measurement="ordinal")
    assert rating_agreement(ratings, ["correctness"])["correctness"]["alpha"] == pytest.approx(expected, abs=1e-9)
    assert rating_agreement(ratings, ["correctness"], without_rater="ion")["correctness"]["alpha"] != pytest.approx(expected)


def test_choice_agreement_reads_the_winner_whatever_the_order_of_the_pair():
    # ana and dan always name the same winner, but the store gave them the pair in opposite orders
    winners = ["tuned", "base", "tuned", "tie", "tuned"]
    preferences = []
    for i, winner in enumerate(winners):
        for rater, (first, second) in (("ana", ("base", "tuned")), ("dan", ("tuned", "base"))):
            choice = "tie" if winner == "tie" else ("first" if first == winner else "second")
            preferences.append(_choice(rater, f"i{i}", first, second, choice))
    assert preference_agreement(preferences)["alpha"] == 1.0
    preferences[1]["choice"] = "tie"  # dan now calls item 0 a tie
    assert preference_agreement(preferences)["alpha"] < 1.0


def test_win_rate_and_sign_test_on_a_known_tally():
    # tuned wins 7 prompts, loses 2, ties 1; the pair arrives in both orders
    outcomes = ["tuned"] * 7 + ["base"] * 2 + ["tie"]
    preferences = []
    for i, winner in enumerate(outcomes):
        first, second = ("tuned", "base") if i % 2 else ("base", "tuned")
        preferences.append(_choice("ana", f"i{i}", first, second,
                                   "tie" if winner == "tie" else ("first" if first == winner else "second")))
    (pair,) = win_rates(preferences, samples=500)
    assert (pair["system_a"], pair["system_b"]) == ("base", "tuned")  # figures from base's side
    assert (pair["wins"], pair["losses"], pair["ties"]) == (2, 7, 1)
    assert pair["win_rate"] == pytest.approx((2 + 0.5) / 10)
    # exact two-sided sign test on 2 vs 7 (the tie left out): 2 * (C(9,0) + C(9,1) + C(9,2)) / 2**9
    assert pair["p_value"] == pytest.approx(2 * (1 + 9 + 36) / 512)
    low, high = pair["ci95"]
    assert low <= pair["win_rate"] <= high and high < 0.5 + 0.2


def test_win_rate_counts_each_prompt_once_however_many_raters():
    preferences = [_choice(rater, f"i{i}", "base", "tuned", "second") for i in range(6) for rater in ("a", "b", "c")]
    (pair,) = win_rates(preferences, samples=200)
    assert pair["choices"] == 18 and pair["losses"] == 18
    assert (pair["items"], pair["items_won"], pair["items_lost"]) == (6, 0, 6)
    assert pair["p_value"] == pytest.approx(2 / 2**6)  # six prompts, not eighteen independent choices
    assert pair["win_rate"] == 0.0


def _random_task(n_items, seed, raters=("ana", "dan", "ion")):
    rng = random.Random(seed)
    ratings = []
    for i in range(n_items):
        quality = {"base": rng.randint(1, 4), "tuned": rng.randint(2, 5)}
        for rater in raters:
            for system, q in quality.items():
                ratings.append(_rating(rater, f"i{i}", system, max(1, min(5, q + rng.choice((-1, 0, 0, 1))))))
    return ratings


def test_bootstrap_intervals_contain_the_estimate_and_shrink_with_more_items():
    widths = []
    for n_items in (20, 320):
        ratings = _random_task(n_items, seed=n_items)
        entry = system_scores(ratings, ["correctness"], samples=400)["tuned"]["correctness"]
        assert entry["items"] == n_items and entry["ratings"] == 3 * n_items
        assert entry["mean_ci95"][0] <= entry["mean"] <= entry["mean_ci95"][1]
        assert entry["median_ci95"][0] <= entry["median"] <= entry["median_ci95"][1]
        (difference,) = paired_differences(ratings, ["correctness"], samples=400)
        assert difference["ci95"][0] <= difference["mean_difference"] <= difference["ci95"][1]
        widths.append(entry["mean_ci95"][1] - entry["mean_ci95"][0])
    assert widths[1] < widths[0] / 2  # 16 times the items: about a quarter of the width


def test_more_raters_of_the_same_items_do_not_narrow_the_interval():
    scores = [1, 3, 4, 2, 5, 3]
    one_rater = [_rating("ana", f"i{i}", "tuned", s) for i, s in enumerate(scores)]
    ten_raters = [_rating(f"r{r}", f"i{i}", "tuned", s) for i, s in enumerate(scores) for r in range(10)]
    alone = system_scores(one_rater, ["correctness"], samples=300)["tuned"]["correctness"]
    crowd = system_scores(ten_raters, ["correctness"], samples=300)["tuned"]["correctness"]
    assert crowd["ratings"] == 60 and crowd["items"] == 6
    assert crowd["mean_ci95"] == alone["mean_ci95"]


def test_paired_difference_of_a_system_one_point_better_everywhere():
    ratings = [r for i, s in enumerate([1, 2, 3, 4, 2, 3, 1, 4, 2, 3])
               for r in (_rating("ana", f"i{i}", "base", s), _rating("ana", f"i{i}", "tuned", s + 1))]
    ratings.append(_rating("ana", "i99", "tuned", 5))  # scored for tuned only: not a shared prompt
    (difference,) = paired_differences(ratings, ["correctness"], samples=200)
    assert (difference["system_a"], difference["system_b"], difference["items"]) == ("base", "tuned", 10)
    assert difference["mean_difference"] == -1.0 and difference["ci95"] == [-1.0, -1.0]
    assert difference["p_value"] == pytest.approx(2 / 2**10)  # exact: only the two all-same-sign flips are as extreme


def test_leniency_finds_the_rater_who_always_gives_one_point_more():
    rng = random.Random(5)
    ratings = []
    for i in range(12):
        for system in ("base", "tuned"):
            score = rng.randint(1, 4)
            ratings += [_rating("ana", f"i{i}", system, score), _rating("dan", f"i{i}", system, score),
                        _rating("generous", f"i{i}", system, score + 1)]
    by_rater = {r["rater"]: r for r in rater_statistics(ratings, [], ["correctness"], ["ana", "dan", "generous", "idle"])}
    assert by_rater["generous"]["leniency"] == pytest.approx(1.0)
    assert by_rater["ana"]["leniency"] == pytest.approx(-0.5) and by_rater["dan"]["leniency"] == pytest.approx(-0.5)
    # the same order as everyone else: perfect rank agreement, and the panel agrees more without the shifted rater
    assert by_rater["generous"]["spearman_with_others"] == pytest.approx(1.0)
    panel = rating_agreement(ratings, ["correctness"])["correctness"]["alpha"]
    assert by_rater["generous"]["alpha_without"]["correctness"] == pytest.approx(1.0) and panel < 0.95
    assert by_rater["generous"]["mean_score"]["correctness"] == pytest.approx(by_rater["ana"]["mean_score"]["correctness"] + 1)
    idle = by_rater["idle"]
    assert (idle["ratings"], idle["items_rated"], idle["leniency"], idle["spearman_with_others"]) == (0, 0, None, None)


def test_preference_export_keeps_only_clear_majorities():
    items = _items(7)
    items["i5"]["answers"]["tuned"] = items["i5"]["answers"]["base"]  # both systems gave the same text
    preferences = [
        _choice("a", "i0", "base", "tuned", "second"), _choice("b", "i0", "base", "tuned", "second"),
        _choice("c", "i0", "base", "tuned", "first"),  # 2 of 3 for tuned: exported
        _choice("a", "i1", "base", "tuned", "first"), _choice("b", "i1", "base", "tuned", "second"),  # 1-1: split
        _choice("a", "i2", "base", "tuned", "tie"), _choice("b", "i2", "base", "tuned", "tie"),
        _choice("c", "i2", "base", "tuned", "first"),  # most say tie: skipped as a tie
        _choice("a", "i3", "base", "tuned", "first"), _choice("b", "i3", "base", "tuned", "tie"),  # half is no majority
        _choice("a", "i4", "tuned", "base", "second"),  # one rater, pair in the other order: base chosen
        _choice("a", "i5", "base", "tuned", "first"),  # identical answers: prepare would reject the pair
        _choice("a", "i6", "base", "tuned", "first"), _choice("b", "i6", "base", "tuned", "second"),
        _choice("c", "i6", "base", "tuned", "tie"),  # three ways: split
    ]
    records, counts = preference_export(items, preferences)
    assert records == [{"prompt": "prompt 0", "chosen": "tuned answer 0", "rejected": "base answer 0"},
                       {"prompt": "prompt 4", "chosen": "base answer 4", "rejected": "tuned answer 4"}]
    assert counts == {"pairs_judged": 7, "exported": 2, "skipped_ties": 1, "skipped_splits": 3,
                      "skipped_identical_answers": 1}


def test_check_inputs_lists_every_problem_at_once():
    items = _items(2)
    ratings = [_rating("ana", "i0", "tuned", 6), _rating("ana", "i1", "tuned", 3, criterion="speed"),
               _rating("ana", "i9", "tuned", 3), _rating("dan", "i0", "base", 2), _rating("dan", "i0", "base", 4)]
    preferences = [_choice("ana", "i0", "base", "tuned", "both"), _choice("ana", "i1", "base", "base", "tie")]
    with pytest.raises(ValueError) as raised:
        check_inputs(items, ratings, preferences, ["correctness"])
    message = str(raised.value)
    assert message.startswith("6 problem(s)")
    for expected in ("integer from 1 to 5", "speed", "no such item", "2 times", "one of first, second, tie", "itself"):
        assert expected in message
    check_inputs(items, ratings[3:4], preferences[:0], ["correctness"])  # clean data passes silently


def _report_task():
    items = _items(8)
    items["i3"]["prompt"] = "Explain <script>alert(1)</script> please"
    criteria, raters = ["correctness", "fluency"], ["ana", "dan", "ion", "idle"]
    rng = random.Random(11)
    ratings = [_rating(r, item, s, min(5, rng.randint(1, 3) + (2 if s == "tuned" else 0)), c)
               for item in items for s in ("base", "tuned") for r in raters[:3] for c in criteria]
    preferences = [_choice(r, item, "base", "tuned", rng.choice(("second", "second", "first", "tie")))
                   for item in items for r in raters[:3]]
    return items, ratings, preferences, criteria, raters


def test_report_files_hold_the_statistics_and_escape_the_prompts(tmp_path):
    items, ratings, preferences, criteria, raters = _report_task()
    paths = write_report(tmp_path / "human", items, ratings, preferences, criteria, raters, title="Legal QA", samples=200)
    assert all(path.is_file() for path in paths.values())

    saved = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert saved["title"] == "Legal QA"
    assert saved["scores"] == plain_values(system_scores(ratings, criteria, 200, 0))
    assert saved["differences"] == plain_values(paired_differences(ratings, criteria, 200, 0))
    assert saved["win_rates"] == plain_values(win_rates(preferences, 200, 0))
    assert saved["agreement"]["ratings"] == plain_values(rating_agreement(ratings, criteria))
    assert saved["agreement"]["choices"] == plain_values(preference_agreement(preferences))
    assert saved["raters"] == plain_values(rater_statistics(ratings, preferences, criteria, raters))
    records, counts = preference_export(items, preferences)
    assert saved["preference_export"] == counts

    with paths["ratings_csv"].open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(ratings) and {row["system"] for row in rows} == {"base", "tuned"}
    assert rows[0] == {key: str(value) for key, value in ratings[0].items()}
    with paths["preferences_csv"].open(encoding="utf-8") as handle:
        choices = list(csv.DictReader(handle))
    assert len(choices) == len(preferences)
    assert all(row["preferred"] == {"first": row["first"], "second": row["second"], "tie": "tie"}[row["choice"]]
               for row in choices)
    lines = paths["preferences_jsonl"].read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == records and counts["exported"] == len(records) > 0

    page = paths["html"].read_text(encoding="utf-8")
    assert "<script" not in page.lower()
    assert "Explain &lt;script&gt;alert(1)&lt;/script&gt; please" in page  # shown, escaped
    markdown = paths["markdown"].read_text(encoding="utf-8")
    assert "<script" not in markdown.lower()
    for text in (page, markdown):
        assert "base" in text and "tuned" in text and "Legal QA" in text
        assert "Krippendorff" in text and "0.667" in text


def test_report_names_the_winner_with_its_interval():
    items = _items(10)
    ratings = [_rating(r, i, s, {"base": 2, "tuned": 4}[s] + (1 if r == "dan" and k % 2 else 0))
               for k, i in enumerate(items) for s in ("base", "tuned") for r in ("ana", "dan")]
    preferences = [_choice(r, i, "tuned", "base", "first") for i in items for r in ("ana", "dan")]
    summary = summarize(items, ratings, preferences, ["correctness"], ["ana", "dan"], samples=200)
    from antrenor.human.report import verdict_sentences

    criterion, pair = verdict_sentences(summary)
    difference = summary["differences"][0]  # base - tuned
    assert "**tuned** scores highest" in criterion and "significant: **tuned** is better" in criterion
    assert f"{-difference['mean_difference']:+.2f} points" in criterion
    assert f"(95 % CI {-difference['ci95'][1]:+.2f} to {-difference['ci95'][0]:+.2f})" in criterion
    assert "Rater agreement: alpha" in criterion
    assert "**tuned** is preferred over base on 100% of 10 prompts" in pair and "significant." in pair


def test_report_says_when_there_is_too_little_to_say(tmp_path):
    items = _items(3)
    ratings = [_rating("ana", i, s, 3 + (s == "tuned")) for i in items for s in ("base", "tuned")]  # one rater
    preferences = [_choice("ana", i, "base", "tuned", "second") for i in items]
    paths = write_report(tmp_path, items, ratings, preferences, ["correctness"], ["ana", "dan"], samples=100)
    markdown = paths["markdown"].read_text(encoding="utf-8")
    assert "too few prompts scored for both tuned and base (3; at least 5 needed)" in markdown
    assert "too few prompts compared (3" in markdown
    assert "cannot be measured" in markdown and "**tuned** is better" not in markdown

    empty = write_report(tmp_path / "empty", items, [], [], ["correctness"], ["ana"], samples=100)
    assert "No ratings yet" in empty["markdown"].read_text(encoding="utf-8")
    saved = json.loads(empty["json"].read_text(encoding="utf-8"))
    assert saved["scores"] == {} and saved["win_rates"] == [] and saved["agreement"]["ratings"]["correctness"]["alpha"] is None
