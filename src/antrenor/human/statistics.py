"""What the raters' scores and side-by-side choices say: who is better, by how much, and how far raters agree.

Inputs are plain data handed over by the rating store (no database access here):

    ratings      [{"rater", "item", "system", "criterion", "score": 1..5}, ...]
    preferences  [{"rater", "item", "first", "second", "choice": "first" | "second" | "tie"}, ...]
    items        {item_id: {"prompt", "reference", "answers": {system: text}}}

Choices made here, and why:
- The unit of resampling is the item (prompt), never the single rating. Three raters scoring the
  same answer are three looks at one answer, not three independent answers, so every bootstrap
  interval resamples items with all their ratings, and each item counts once: an item's score is
  the mean of its ratings, a system's mean and median are over those item scores.
- Two systems are compared on the items both were rated on: the mean over items of the
  difference of the item means, a bootstrap interval, and a paired permutation p-value (the
  house's test for per-item scores whose mean is the figure; exact up to 12 items).
- A side-by-side item's verdict is the mean of its raters' choices (win 1, tie 0.5, loss 0). The win
  rate is the mean over items; the sign test counts items won against items lost, so an item seen
  by five raters still counts once.
- A rater's leniency is the mean of (their score - the other raters' mean score) over the answers
  and criteria they share with someone; their agreement with the panel is the Spearman correlation
  between their scores and the others' mean on those same answers (rank-based, so a rater who is
  lenient but orders answers like everyone else agrees well: leniency is the separate figure), and
  the panel's alpha per criterion without them shows whether they lower the panel's reliability.

Example:
    >>> ratings = [{"rater": r, "item": f"i{i}", "system": s, "criterion": "fluency", "score": score}
    ...            for i in range(6) for r in ("ana", "dan") for s, score in (("base", 2), ("tuned", 4))]
    >>> scores = system_scores(ratings, ["fluency"], samples=200)
    >>> scores["tuned"]["fluency"]["mean"], scores["base"]["fluency"]["items"]
    (4.0, 6)
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from itertools import combinations
from typing import Any

import numpy as np

from antrenor.human.agreement import interpret_alpha, krippendorff_alpha
from antrenor.reporting.stats import bootstrap_ci, paired_permutation_pvalue, sign_test_pvalue

LIKERT_SCALE = (1, 5)
CHOICES = ("first", "second", "tie")
MIN_ITEMS_FOR_VERDICT = 5  # below this an interval or p-value says next to nothing; the report says so
MIN_SHARED_FOR_SPEARMAN = 3
PROBLEMS_SHOWN = 10


def check_inputs(items: dict[str, Any], ratings: list[dict[str, Any]], preferences: list[dict[str, Any]],
                 criteria: list[str]) -> None:
    """Raise one ValueError listing every problem in the store's data (bad scores, unknown items, duplicates)."""
    problems = []
    seen: Counter = Counter()
    for rating in ratings:
        score, item = rating.get("score"), rating.get("item")
        if not isinstance(score, (int, np.integer)) or isinstance(score, bool) or not LIKERT_SCALE[0] <= score <= LIKERT_SCALE[1]:
            problems.append(f"rating {rating}: score must be an integer from {LIKERT_SCALE[0]} to {LIKERT_SCALE[1]}")
        if rating.get("criterion") not in criteria:
            problems.append(f"rating {rating}: criterion not among the task's criteria {criteria}")
        if item not in items or rating.get("system") not in items[item]["answers"]:
            problems.append(f"rating {rating}: no such item, or the item has no answer from that system")
        seen[("rating", rating.get("rater"), item, rating.get("system"), rating.get("criterion"))] += 1
    for preference in preferences:
        if preference.get("choice") not in CHOICES:
            problems.append(f"choice {preference}: choice must be one of {', '.join(CHOICES)}")
        if preference.get("first") == preference.get("second"):
            problems.append(f"choice {preference}: an answer compared with itself")
        answers = items.get(preference.get("item"), {}).get("answers", {})
        if preference.get("first") not in answers or preference.get("second") not in answers:
            problems.append(f"choice {preference}: no such item, or the item lacks one of the two systems' answers")
        pair = sorted((str(preference.get("first")), str(preference.get("second"))))
        seen[("choice", preference.get("rater"), preference.get("item"), *pair)] += 1
    problems += [f"{key}: recorded {count} times; keep one value per rater (the latest)" for key, count in seen.items()
                 if count > 1]
    if problems:
        shown = "\n  - ".join(problems[:PROBLEMS_SHOWN])
        more = f"\n  ... and {len(problems) - PROBLEMS_SHOWN} more" if len(problems) > PROBLEMS_SHOWN else ""
        raise ValueError(f"{len(problems)} problem(s) in the human ratings; fix the task's data and report again:"
                         f"\n  - {shown}{more}")


def system_scores(ratings: list[dict[str, Any]], criteria: list[str], samples: int = 1000,
                  seed: int = 0) -> dict[str, dict[str, dict[str, Any]]]:
    """{system: {criterion: {"ratings", "items", "mean", "mean_ci95", "median", "median_ci95"}}}.

    Each item counts once (its score is the mean of its ratings); intervals resample items.
    A criterion nobody scored for a system has 0 ratings and None figures."""
    by_item = _item_means(ratings)
    counts = Counter((r["system"], r["criterion"]) for r in ratings)
    scores: dict[str, dict[str, dict[str, Any]]] = {}
    for system in sorted({r["system"] for r in ratings}):
        scores[system] = {}
        for criterion in criteria:
            means = np.array(list(by_item.get((system, criterion), {}).values()), dtype=float)
            entry: dict[str, Any] = {"ratings": counts[(system, criterion)], "items": len(means)}
            if len(means):
                entry |= {"mean": float(means.mean()),
                          "mean_ci95": list(bootstrap_ci(lambda idx: float(means[idx].mean()), len(means), samples, seed)),
                          "median": float(np.median(means)),
                          "median_ci95": list(bootstrap_ci(lambda idx: float(np.median(means[idx])), len(means), samples, seed))}
            else:
                entry |= {"mean": None, "mean_ci95": None, "median": None, "median_ci95": None}
            scores[system][criterion] = entry
    return scores


def paired_differences(ratings: list[dict[str, Any]], criteria: list[str], samples: int = 1000,
                       seed: int = 0) -> list[dict[str, Any]]:
    """Per criterion and pair of systems (a before b by name): mean over shared items of (item mean of a - of b).

    The interval resamples the shared items; the p-value is the paired permutation test's."""
    by_item = _item_means(ratings)
    systems = sorted({r["system"] for r in ratings})
    differences = []
    for criterion in criteria:
        for system_a, system_b in combinations(systems, 2):
            means_a, means_b = by_item.get((system_a, criterion), {}), by_item.get((system_b, criterion), {})
            shared = sorted(set(means_a) & set(means_b))
            a = np.array([means_a[item] for item in shared], dtype=float)
            b = np.array([means_b[item] for item in shared], dtype=float)
            difference = a - b
            entry = {"criterion": criterion, "system_a": system_a, "system_b": system_b, "items": len(shared),
                     "mean_difference": float(difference.mean()) if len(shared) else None,
                     "ci95": list(bootstrap_ci(lambda idx: float(difference[idx].mean()), len(shared), samples, seed))
                     if len(shared) else None,
                     "p_value": paired_permutation_pvalue(a, b, seed=seed) if len(shared) else None,
                     "test": "paired permutation test over items (two-sided)"}
            differences.append(entry)
    return differences


def win_rates(preferences: list[dict[str, Any]], samples: int = 1000, seed: int = 0) -> list[dict[str, Any]]:
    """Side-by-side results per pair of systems, from system_a's side (a before b by name).

    wins/losses/ties count the raters' choices; win_rate is the mean over items of each item's
    share (win 1, tie 0.5, loss 0) with a bootstrap interval over items; the exact two-sided sign
    test compares items won with items lost (ties left out)."""
    shares: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for preference in preferences:
        shares[_pair(preference)][preference["item"]].append(_share_of_a(preference))
    results = []
    for (system_a, system_b), by_item in sorted(shares.items()):
        choices = [share for item_shares in by_item.values() for share in item_shares]
        item_shares = np.array([np.mean(values) for values in by_item.values()], dtype=float)
        item_wins, item_losses = int((item_shares > 0.5).sum()), int((item_shares < 0.5).sum())
        results.append({
            "system_a": system_a, "system_b": system_b, "choices": len(choices),
            "wins": choices.count(1.0), "losses": choices.count(0.0), "ties": choices.count(0.5),
            "items": len(item_shares), "items_won": item_wins, "items_lost": item_losses,
            "items_tied": len(item_shares) - item_wins - item_losses,
            "win_rate": float(item_shares.mean()),
            "ci95": list(bootstrap_ci(lambda idx: float(item_shares[idx].mean()), len(item_shares), samples, seed)),
            "p_value": sign_test_pvalue(item_wins, item_losses),
            "test": "two-sided exact sign test over items, ties left out"})
    return results


def rating_agreement(ratings: list[dict[str, Any]], criteria: list[str],
                     without_rater: str | None = None) -> dict[str, dict[str, Any]]:
    """Ordinal Krippendorff's alpha per criterion; a unit is one system's answer to one item, coders are raters."""
    agreement = {}
    for criterion in criteria:
        units: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
        for rating in ratings:
            if rating["criterion"] == criterion and rating["rater"] != without_rater:
                units[(rating["item"], rating["system"])][rating["rater"]] = rating["score"]
        agreement[criterion] = _alpha_entry(units, "ordinal")
    return agreement


def preference_agreement(preferences: list[dict[str, Any]]) -> dict[str, Any]:
    """Nominal Krippendorff's alpha of the side-by-side choices; a unit is one pair of answers to one item."""
    units: dict[tuple[str, str, str], dict[str, float]] = defaultdict(dict)
    for preference in preferences:
        units[(preference["item"], *_pair(preference))][preference["rater"]] = _share_of_a(preference)
    return _alpha_entry(units, "nominal")


def rater_statistics(ratings: list[dict[str, Any]], preferences: list[dict[str, Any]], criteria: list[str],
                     raters: list[str]) -> list[dict[str, Any]]:
    """Per rater: how much they rated, their mean per criterion, leniency, and agreement with the others.

    leniency: mean of (own score - other raters' mean) over the shared answers and criteria (+1: one
    point more generous than the rest). spearman_with_others: rank correlation of own scores with the
    others' mean on the same answers, all criteria pooled (None under 3 shared scores or with no
    variation). alpha_without: each criterion's ordinal alpha with this rater left out, to set
    beside the panel's: if it rises without them, they lower the panel's reliability."""
    units: dict[tuple[str, str, str], dict[str, int]] = defaultdict(dict)
    for rating in ratings:
        units[(rating["item"], rating["system"], rating["criterion"])][rating["rater"]] = rating["score"]
    statistics = []
    for rater in raters:
        own = [r for r in ratings if r["rater"] == rater]
        pairs = [(scores[rater], np.mean([s for other, s in scores.items() if other != rater]), unit[2])
                 for unit, scores in units.items() if rater in scores and len(scores) >= 2]
        statistics.append({
            "rater": rater, "ratings": len(own), "items_rated": len({r["item"] for r in own}),
            "choices": sum(p["rater"] == rater for p in preferences),
            "mean_score": {c: _mean([r["score"] for r in own if r["criterion"] == c]) for c in criteria},
            "shared_scores": len(pairs),
            "leniency": _mean([mine - theirs for mine, theirs, _ in pairs]),
            "leniency_by_criterion": {c: _mean([mine - theirs for mine, theirs, crit in pairs if crit == c])
                                      for c in criteria},
            "spearman_with_others": _spearman([p[0] for p in pairs], [p[1] for p in pairs]),
            "alpha_without": {c: entry["alpha"] for c, entry in rating_agreement(ratings, criteria, rater).items()}
            if own else None,
        })
    return statistics


def preference_export(items: dict[str, Any], preferences: list[dict[str, Any]]) -> tuple[list[dict[str, str]], dict[str, int]]:
    """Preference records {"prompt", "chosen", "rejected"} from the side-by-side majority, for `antrenor prepare`.

    A pair of answers to an item is exported when more than half of its raters chose the same answer;
    when most said "tie" it is skipped as a tie, with no such majority as a split, and when both
    answers are the same text (prepare would reject it) as identical. Returns (records, counts)."""
    votes: dict[tuple[str, str, str], Counter] = defaultdict(Counter)
    for preference in preferences:
        system_a, system_b = _pair(preference)
        votes[(preference["item"], system_a, system_b)][{1.0: "a", 0.0: "b", 0.5: "tie"}[_share_of_a(preference)]] += 1
    records, counts = [], Counter(pairs_judged=len(votes), exported=0, skipped_ties=0, skipped_splits=0,
                                  skipped_identical_answers=0)
    for (item, system_a, system_b), tally in votes.items():
        verdict, top = tally.most_common(1)[0]
        if 2 * top <= sum(tally.values()):
            counts["skipped_splits"] += 1
            continue
        if verdict == "tie":
            counts["skipped_ties"] += 1
            continue
        answers = items[item]["answers"]
        chosen, rejected = (system_a, system_b) if verdict == "a" else (system_b, system_a)
        if answers[chosen] == answers[rejected]:
            counts["skipped_identical_answers"] += 1
            continue
        records.append({"prompt": items[item]["prompt"], "chosen": answers[chosen], "rejected": answers[rejected]})
        counts["exported"] += 1
    return records, dict(counts)


def summarize(items: dict[str, Any], ratings: list[dict[str, Any]], preferences: list[dict[str, Any]],
              criteria: list[str], raters: list[str], samples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Every figure of the report, as report.json holds it (before None replaces nan)."""
    check_inputs(items, ratings, preferences, criteria)
    exported, export_counts = preference_export(items, preferences)
    return {
        "counts": {"items": len(items), "systems": len({s for item in items.values() for s in item["answers"]}),
                   "criteria": len(criteria), "raters": len(raters),
                   "raters_active": len({r["rater"] for r in ratings} | {p["rater"] for p in preferences}),
                   "ratings": len(ratings), "choices": len(preferences)},
        "criteria": list(criteria),
        "settings": {"bootstrap_samples": samples, "seed": seed, "likert_scale": list(LIKERT_SCALE),
                     "min_items_for_verdict": MIN_ITEMS_FOR_VERDICT},
        "scores": system_scores(ratings, criteria, samples, seed),
        "differences": paired_differences(ratings, criteria, samples, seed),
        "win_rates": win_rates(preferences, samples, seed),
        "agreement": {"ratings": rating_agreement(ratings, criteria), "choices": preference_agreement(preferences)},
        "raters": rater_statistics(ratings, preferences, criteria, raters),
        "preference_export": export_counts,
    }


def _item_means(ratings: Iterable[dict[str, Any]]) -> dict[tuple[str, str], dict[str, float]]:
    """{(system, criterion): {item: mean score of its ratings}}."""
    scores: dict[tuple[str, str], dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for rating in ratings:
        scores[(rating["system"], rating["criterion"])][rating["item"]].append(rating["score"])
    return {key: {item: float(np.mean(values)) for item, values in by_item.items()} for key, by_item in scores.items()}


def _pair(preference: dict[str, Any]) -> tuple[str, str]:
    """The two systems in name order, whichever the store put first."""
    return tuple(sorted((preference["first"], preference["second"])))  # type: ignore[return-value]


def _share_of_a(preference: dict[str, Any]) -> float:
    """1.0 if the pair's first system by name won, 0.0 if it lost, 0.5 for a tie."""
    if preference["choice"] == "tie":
        return 0.5
    winner = preference[preference["choice"]]
    return 1.0 if winner == _pair(preference)[0] else 0.0


def _alpha_entry(units: dict[Any, dict[str, Any]], level: str) -> dict[str, Any]:
    result = krippendorff_alpha(units, level)  # type: ignore[arg-type]
    return result.as_dict() | {"interpretation": interpret_alpha(result.alpha)}


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _spearman(own: list[float], others: list[float]) -> float | None:
    if len(own) < MIN_SHARED_FOR_SPEARMAN or len(set(own)) < 2 or len(set(others)) < 2:
        return None
    from scipy.stats import spearmanr  # lazy: scipy is slow to import and only this figure needs it

    value = float(spearmanr(own, others)[0])
    return value if math.isfinite(value) else None
