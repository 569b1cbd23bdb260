"""The human evaluation's report: report.html (charts embedded), report.md, report.json, ratings.csv,
preferences.csv and human_preferences.jsonl (the side-by-side majority, ready for `antrenor prepare`).

Built like the evaluation report (`antrenor.evaluation.report`): one list of blocks rendered twice,
so the HTML and the Markdown say the same thing, and report.json holds exactly the figures of
`antrenor.human.statistics.summarize`.

Example:
    >>> from pathlib import Path; import tempfile
    >>> items = {"i1": {"prompt": "2+2?", "reference": "4", "answers": {"base": "5", "tuned": "4"}}}
    >>> ratings = [{"rater": "ana", "item": "i1", "system": "tuned", "criterion": "correctness", "score": 5}]
    >>> paths = write_report(Path(tempfile.mkdtemp()), items, ratings, [], ["correctness"], ["ana"], samples=50)
    >>> sorted(paths)
    ['html', 'json', 'markdown', 'preferences_csv', 'preferences_jsonl', 'ratings_csv']
"""

from __future__ import annotations

import csv
import html
import io
from pathlib import Path
from typing import Any

from antrenor.human.agreement import RELIABLE, TENTATIVE
from antrenor.human.statistics import MIN_ITEMS_FOR_VERDICT, preference_export, summarize
from antrenor.reporting.blocks import Block, fmt, plain_values, render_html, render_markdown
from antrenor.reporting.charts import COLORS, metric_bars, png_base64, pyplot
from antrenor.reporting.files import write_json_atomic, write_jsonl_atomic, write_text_atomic

SIGNIFICANCE = 0.05
PROMPTS_SHOWN = 8
FILES = {"html": "report.html", "markdown": "report.md", "json": "report.json", "ratings_csv": "ratings.csv",
         "preferences_csv": "preferences.csv", "preferences_jsonl": "human_preferences.jsonl"}
ALPHA_NOTE = (f"Krippendorff's alpha: 1 = perfect agreement, 0 = no better than chance. Krippendorff's reading: "
              f"≥ {RELIABLE} reliable, ≥ {TENTATIVE} tentative conclusions only, below that unreliable. Scores use the "
              "ordinal level (one answer rated by several raters is one unit); side-by-side choices the nominal level.")


def write_report(output_dir: Path | str, items: dict[str, Any], ratings: list[dict[str, Any]],
                 preferences: list[dict[str, Any]], criteria: list[str], raters: list[str],
                 title: str = "Human evaluation", samples: int = 1000, seed: int = 0) -> dict[str, Path]:
    """Compute every figure and write the six files into `output_dir` (created if missing); returns their paths."""
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    summary = summarize(items, ratings, preferences, criteria, raters, samples, seed)
    paths = {key: output / name for key, name in FILES.items()}
    write_json_atomic(paths["json"], plain_values({"title": title, **summary}))
    _write_csv(paths["ratings_csv"], ["rater", "item", "system", "criterion", "score"], ratings)
    _write_csv(paths["preferences_csv"], ["rater", "item", "first", "second", "choice", "preferred"],
               [{**p, "preferred": p[p["choice"]] if p["choice"] != "tie" else "tie"} for p in preferences])
    write_jsonl_atomic(paths["preferences_jsonl"], preference_export(items, preferences)[0])
    blocks = build_blocks(summary, items, ratings, title)
    write_text_atomic(paths["html"], render_html(blocks, title=title))
    write_text_atomic(paths["markdown"], render_markdown(_escaped_for_markdown(blocks), html_name=FILES["html"]))
    return paths


def verdict_sentences(summary: dict[str, Any]) -> list[str]:
    """Who won each criterion and each side-by-side pair, by how much, and whether the data can tell
    (names in **bold**); also what the CLI prints."""
    if not summary["counts"]["ratings"] and not summary["counts"]["choices"]:
        return ["No ratings yet: nothing to report. Share the rating link with the raters and report again."]
    sentences = [_criterion_sentence(criterion, summary) for criterion in summary["criteria"]]
    sentences += [_pair_sentence(pair) + _agreement_clause(summary["agreement"]["choices"])
                  for pair in summary["win_rates"]]
    return sentences


def _agreement_clause(entry: dict[str, Any]) -> str:
    """How far the verdict can be trusted given the raters' agreement on it."""
    alpha, reading = entry["alpha"], entry["interpretation"]
    if reading == "undefined":
        return " Rater agreement cannot be measured here (see Agreement)."
    if reading == "unreliable":
        return f" Raters agree too little here (alpha {alpha:.3f}, below {TENTATIVE}): treat this verdict as unreliable."
    return f" Rater agreement: alpha {alpha:.3f} ({reading})."



def build_blocks(summary: dict[str, Any], items: dict[str, Any], ratings: list[dict[str, Any]], title: str) -> list[Block]:
    counts, settings = summary["counts"], summary["settings"]
    blocks: list[Block] = [
        ("h1", title),
        ("p", f"{counts['ratings']} scores ({settings['likert_scale'][0]}–{settings['likert_scale'][1]}) of "
              f"{counts['systems']} systems' answers to {counts['items']} prompts on {counts['criteria']} criteria, and "
              f"{counts['choices']} side-by-side choices, by {counts['raters_active']} of {counts['raters']} raters. "
              f"95 % intervals from {settings['bootstrap_samples']} bootstrap resamples of the prompts (each prompt "
              f"counts once, however many raters saw it); below {MIN_ITEMS_FOR_VERDICT} prompts no verdict is drawn."),
        ("h2", "Verdict")]
    blocks += [("p", sentence) for sentence in verdict_sentences(summary)]
    blocks += _agreement_blocks(summary)
    blocks += _score_blocks(summary)
    blocks += _side_by_side_blocks(summary)
    blocks += _rater_blocks(summary)
    blocks += _prompt_blocks(summary, items, ratings)
    export = summary["preference_export"]
    blocks += [("h2", "Preference data"),
               ("p", f"{export['exported']} of {export['pairs_judged']} judged answer pairs went to "
                     f"{FILES['preferences_jsonl']} (chosen = the answer more than half of its raters preferred); skipped: "
                     f"{export['skipped_ties']} ties, {export['skipped_splits']} splits without a majority, "
                     f"{export['skipped_identical_answers']} pairs of identical answers. Feed it to `antrenor prepare` "
                     "as kind preference."),
               ("p", "Files: " + ", ".join(FILES.values()) + ".")]
    return blocks


def _criterion_sentence(criterion: str, summary: dict[str, Any]) -> str:
    rated = {system: entry[criterion] for system, entry in summary["scores"].items() if entry[criterion]["items"]}
    if not rated:
        return f"**{criterion}**: no scores yet."
    ranked = sorted(rated, key=lambda system: -rated[system]["mean"])
    means = ", ".join(f"{system} {fmt(rated[system]['mean'])}" for system in ranked)
    best = ranked[0]
    agreement = _agreement_clause(summary["agreement"]["ratings"][criterion])
    if len(ranked) == 1:
        return f"**{criterion}**: only {best} has scores so far (mean {fmt(rated[best]['mean'])}): nothing to compare."
    runner_up = ranked[1]
    difference = _oriented_difference(summary["differences"], criterion, best, runner_up)
    if difference["items"] < MIN_ITEMS_FOR_VERDICT:
        return (f"**{criterion}**: too few prompts scored for both {best} and {runner_up} ({difference['items']}; at least "
                f"{MIN_ITEMS_FOR_VERDICT} needed) to say which is better. Means so far: {means}.")
    low, high = difference["ci95"]
    significant = difference["p_value"] < SIGNIFICANCE
    verdict = (f"significant: **{best}** is better on {criterion}" if significant else
               "not significant: the scores do not tell them apart")
    return (f"**{criterion}**: **{best}** scores highest, {fmt(rated[best]['mean'])} (95 % CI {_interval(rated[best]['mean_ci95'])}) "
            f"against {runner_up}'s {fmt(rated[runner_up]['mean'])}: {difference['mean_difference']:+.2f} points "
            f"(95 % CI {low:+.2f} to {high:+.2f}) over {difference['items']} prompts scored for both; paired permutation "
            f"p = {difference['p_value']:.3g}, {verdict}." + (f" All means: {means}." if len(ranked) > 2 else "")
            + agreement)


def _oriented_difference(differences: list[dict[str, Any]], criterion: str, system_a: str, system_b: str) -> dict[str, Any]:
    """The paired difference system_a - system_b (the statistics store it with the pair in name order)."""
    for entry in differences:
        if entry["criterion"] == criterion and {entry["system_a"], entry["system_b"]} == {system_a, system_b}:
            if entry["system_a"] == system_a:
                return entry
            flipped = [-entry["ci95"][1], -entry["ci95"][0]] if entry["ci95"] else None
            mean = -entry["mean_difference"] if entry["mean_difference"] is not None else None
            return {**entry, "system_a": system_a, "system_b": system_b, "mean_difference": mean, "ci95": flipped}
    raise KeyError(f"no paired difference for {system_a} and {system_b} on {criterion}")


def _pair_sentence(pair: dict[str, Any]) -> str:
    a, b = pair["system_a"], pair["system_b"]
    if pair["items"] < MIN_ITEMS_FOR_VERDICT:
        return (f"Side by side, {a} vs {b}: too few prompts compared ({pair['items']}; at least {MIN_ITEMS_FOR_VERDICT} "
                f"needed) to say which is preferred ({pair['wins']} choices for {a}, {pair['losses']} for {b}, "
                f"{pair['ties']} ties).")
    leader, other, rate, (low, high) = a, b, pair["win_rate"], pair["ci95"]
    won, lost = pair["items_won"], pair["items_lost"]
    if rate < 0.5:
        leader, other, rate, low, high, won, lost = b, a, 1 - rate, 1 - high, 1 - low, lost, won
    significant = pair["p_value"] < SIGNIFICANCE
    if rate == 0.5:
        return (f"Side by side, {a} and {b} are even: win rate 0.50 (95 % CI {low:.2f}–{high:.2f}) over {pair['items']} "
                f"prompts ({pair['wins']} choices for {a}, {pair['losses']} for {b}, {pair['ties']} ties).")
    verdict = "significant" if significant else "not significant: the choices do not tell them apart"
    return (f"Side by side, **{leader}** is preferred over {other} on {rate:.0%} of {pair['items']} prompts (ties count half; "
            f"95 % CI {low:.0%}–{high:.0%}); prompts won {won}, lost {lost}, tied {pair['items_tied']}; "
            f"sign test p = {pair['p_value']:.3g}, {verdict}.")


def _agreement_blocks(summary: dict[str, Any]) -> list[Block]:
    entries = [(criterion, entry) for criterion, entry in summary["agreement"]["ratings"].items()]
    if summary["counts"]["choices"]:
        entries.append(("side-by-side choices", summary["agreement"]["choices"]))
    rows = [[name, entry["level"], fmt(entry["alpha"], 3), entry["interpretation"], entry["pairable_units"],
             entry["pairable_values"], entry["note"] or ""] for name, entry in entries]
    return [("h2", "Agreement between raters"), ("p", ALPHA_NOTE),
            ("table", (["what", "level", "alpha", "reading", "units rated by 2+ raters", "values in them", "note"], rows))]


def _score_blocks(summary: dict[str, Any]) -> list[Block]:
    rows = [[system, criterion, entry["ratings"], entry["items"], fmt(entry["mean"]), _interval(entry["mean_ci95"]),
             fmt(entry["median"]), _interval(entry["median_ci95"])]
            for system, by_criterion in summary["scores"].items() for criterion, entry in by_criterion.items()]
    if not rows:
        return []
    blocks: list[Block] = [("h2", "Scores"),
                           ("p", "Each prompt's score is the mean of its raters' scores; mean and median are over prompts."),
                           ("table", (["system", "criterion", "scores", "prompts", "mean", "95 % CI", "median", "95 % CI"],
                                      rows))]
    image = score_chart(summary)
    if image:
        blocks.append(("img", ("mean score per criterion and system, with 95 % intervals", image)))
    differences = [[d["criterion"], f"{d['system_a']} − {d['system_b']}", d["items"], _signed(d["mean_difference"]),
                    _interval(d["ci95"], signed=True), fmt(d["p_value"], 3)] for d in summary["differences"]]
    if differences:
        blocks += [("h3", "Paired differences"),
                   ("p", "Over the prompts scored for both systems: the mean of (prompt mean of the first − of the "
                         "second), with a paired permutation test."),
                   ("table", (["criterion", "difference", "prompts", "mean", "95 % CI", "p"], differences))]
    return blocks


def score_chart(summary: dict[str, Any]) -> str | None:
    """The evaluation report's metric bars: one panel per criterion, one bar per system, with 95 % intervals."""
    nan = float("nan")
    models = {system: {"metrics": {criterion: {"value": entry["mean"], "ci95": entry["mean_ci95"] or [nan, nan]}
                                   for criterion, entry in by_criterion.items() if entry["mean"] is not None}}
              for system, by_criterion in summary["scores"].items()}
    return metric_bars({"models": models}, list(summary["criteria"])) if models else None


def win_rate_chart(win_rates: list[dict[str, Any]]) -> str | None:
    """One horizontal bar per pair: the first system's win rate with its 95 % interval; 0.5 = even."""
    if not win_rates:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 0.5 * len(win_rates) + 1.2))
    for row, pair in enumerate(win_rates):
        low, high = pair["ci95"]
        rate = pair["win_rate"]
        ax.barh(row, rate, color=COLORS[(row + 1) % len(COLORS)],
                xerr=[[max(0.0, rate - low)], [max(0.0, high - rate)]], capsize=4)
    ax.axvline(0.5, color="black", linewidth=0.8, linestyle="--")
    ax.set_xlim(0, 1)
    ax.set_yticks(range(len(win_rates)), [f"{p['system_a']} vs {p['system_b']}" for p in win_rates], fontsize=8)
    ax.set_xlabel("win rate of the first (ties count half)")
    return png_base64(fig)


def _side_by_side_blocks(summary: dict[str, Any]) -> list[Block]:
    pairs = summary["win_rates"]
    if not pairs:
        return []
    rows = [[f"{p['system_a']} vs {p['system_b']}", f"{p['wins']} / {p['ties']} / {p['losses']}", p["items"],
             f"{p['items_won']} / {p['items_tied']} / {p['items_lost']}", fmt(p["win_rate"]), _interval(p["ci95"]),
             fmt(p["p_value"], 3)] for p in pairs]
    blocks: list[Block] = [("h2", "Side by side"),
                           ("p", "Win rate of the first system: each prompt's share of its raters' choices (win 1, tie "
                                 "0.5, loss 0), averaged over prompts; the sign test counts prompts won against lost."),
                           ("table", (["pair", "choices: wins / ties / losses", "prompts", "prompts won / tied / lost",
                                       "win rate", "95 % CI", "p (sign test)"], rows))]
    image = win_rate_chart(pairs)
    if image:
        blocks.append(("img", ("win rates with 95 % intervals", image)))
    return blocks


def _rater_blocks(summary: dict[str, Any]) -> list[Block]:
    criteria = summary["criteria"]
    panel = summary["agreement"]["ratings"]
    rows = []
    for rater in summary["raters"]:
        without = rater["alpha_without"] or {}
        changes = ", ".join(f"{c} {fmt(without.get(c), 3)}" for c in criteria
                            if without.get(c) is not None and panel[c]["alpha"] is not None)
        rows.append([rater["rater"], rater["ratings"], rater["items_rated"], rater["choices"],
                     *(fmt(rater["mean_score"][c]) for c in criteria), _signed(rater["leniency"]), rater["shared_scores"],
                     fmt(rater["spearman_with_others"]), changes])
    return [("h2", "Raters"),
            ("p", "Leniency: mean of (own score − the other raters' mean) on the answers they share (+1 = a point more "
                  "generous). Spearman: rank agreement of own scores with the others' mean on those answers. Alpha "
                  "without: the panel's alpha with this rater left out; higher than the panel's means they lower it."),
            ("table", (["rater", "scores", "prompts", "choices", *(f"mean {c}" for c in criteria), "leniency",
                        "shared scores", "Spearman with others", "alpha without"], rows))]


def _prompt_blocks(summary: dict[str, Any], items: dict[str, Any], ratings: list[dict[str, Any]]) -> list[Block]:
    """The prompts whose answers' mean scores (all criteria) differ most between the two best systems."""
    means: dict[str, dict[str, list[int]]] = {}
    for rating in ratings:
        means.setdefault(rating["system"], {}).setdefault(rating["item"], []).append(rating["score"])
    ranked = sorted(means, key=lambda s: -sum(map(sum, means[s].values())) / sum(map(len, means[s].values())))
    if len(ranked) < 2:
        return []
    first, second = ranked[:2]
    shared = set(means[first]) & set(means[second])
    gap = {item: sum(means[first][item]) / len(means[first][item]) - sum(means[second][item]) / len(means[second][item])
           for item in shared}
    shown = sorted(shared, key=lambda item: (-abs(gap[item]), item))[:PROMPTS_SHOWN]
    rows = [[items[item]["prompt"][:200], items[item]["answers"][first][:160], items[item]["answers"][second][:160],
             _signed(gap[item])] for item in shown]
    return [("h2", f"Prompts where {first} and {second} differ most"),
            ("table", (["prompt", f"{first} answer", f"{second} answer", "score gap (all criteria)"], rows))]


def _interval(ci: list[float] | None, signed: bool = False) -> str:
    if not ci:
        return "–"
    return f"{_signed(ci[0])} – {_signed(ci[1])}" if signed else f"{fmt(ci[0])} – {fmt(ci[1])}"


def _signed(value: float | None) -> str:
    return fmt(value) if value is None or value != value else f"{value:+.2f}"


def _escaped_for_markdown(blocks: list[Block]) -> list[Block]:
    """Prompts and answers may hold HTML; Markdown viewers render raw HTML, so it goes in as entities."""
    escaped: list[Block] = []
    for kind, content in blocks:
        if kind == "table":
            headers, rows = content
            content = ([html.escape(str(h), quote=False) for h in headers],
                       [[html.escape(str(v), quote=False) for v in row] for row in rows])
        elif kind == "p":
            content = html.escape(content, quote=False)
        escaped.append((kind, content))
    return escaped


def _write_csv(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())
