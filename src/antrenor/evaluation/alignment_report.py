"""The report's Alignment section (reward models; preference- and RL-tuned LMs against their base) and the
reward/margin/KL training curves, as blocks for `report.py` to render into HTML and Markdown."""

from __future__ import annotations

from typing import Any

from antrenor.evaluation import charts
from antrenor.evaluation.alignment_compare import read_training_log, training_curves
from antrenor.evaluation.config import ALIGNED_LM_TASKS

EXAMPLES_SHOWN = 5
UNRELIABLE_JUDGE = 0.6  # a judge that agrees with the data's preferences less often than this is near chance


def alignment_blocks(summary: dict[str, Any], results: dict[str, dict[str, Any]]) -> list[tuple[str, Any]]:
    if summary["task"] == "reward":
        return _reward_model_blocks(summary, results)
    if summary["task"] not in ALIGNED_LM_TASKS:
        return []
    from antrenor.reporting.blocks import fmt

    models = summary["models"]
    blocks: list[tuple[str, Any]] = [("h2", "Alignment"), ("p", _judge_sentence(summary.get("judge")))]
    compared = {label: m["alignment_vs_base"] for label, m in models.items() if m.get("alignment_vs_base")}
    blocks += [("p", _comparison_sentence(label, figures)) for label, figures in compared.items()]
    if compared:
        rows = []
        for label, figures in compared.items():
            margin, wins = figures.get("margin_change", {}), figures.get("win_rate", {})
            rows.append([label, fmt(margin.get("mean")), _interval(margin), fmt(margin.get("p_value"), 3),
                         fmt(margin.get("rose_share")), fmt(wins.get("value")), _interval(wins),
                         f"{wins['wins']} / {wins['ties']} / {wins['losses']}" if wins else "–",
                         fmt(wins.get("p_value"), 3)])
        blocks.append(("table", (["model", "margin change", "95 % CI", "p (paired)", "pairs whose margin rose",
                                  "win rate", "95 % CI", "wins / ties / losses", "p (sign test)"], rows)))
    answers = [[label, m["details"].get("answers"), fmt(m["details"].get("mean_answer_words"), 1),
                m["details"].get("empty_answers"), fmt(m["metrics"].get("reward", {}).get("value"))]
               for label, m in models.items() if m.get("details")]
    blocks += [("p", "Generated answers (greedy; every answer is in predictions.jsonl). A judge may favour length: "
                     "compare the answers' lengths before reading a win as better content."),
               ("table", (["model", "answers", "mean words", "empty", "mean reward"], answers))]
    return blocks + _changed_answers(summary, results)


def _interval(figure: dict[str, Any]) -> str:
    from antrenor.reporting.blocks import fmt

    return f"{fmt(figure['ci95'][0])} – {fmt(figure['ci95'][1])}" if figure.get("ci95") else "–"


def _judge_sentence(judge: dict[str, Any] | None) -> str:
    from antrenor.reporting.blocks import fmt

    if not judge:
        return ("No judge: the answers were generated but not scored. Give a reward model with --judge DIR for the "
                "mean reward of each model and the win rate against the base.")
    sentence = f"Judge: {judge['source']} ({judge['answers_scored']} distinct answers scored in {fmt(judge['seconds'], 1)} s)."
    agreement = judge.get("pairwise_accuracy")
    if agreement:
        sentence += (f" On the {agreement['pairs']} held-out pairs it scores the chosen answer above the rejected one "
                     f"in {fmt(agreement['value'])} of them (95 % CI {_interval(agreement)}; 0.5 = chance).")
        if agreement["value"] < UNRELIABLE_JUDGE:
            sentence += " That is close to chance: its verdicts below say little."
    return sentence


def _comparison_sentence(label: str, figures: dict[str, Any]) -> str:
    from antrenor.reporting.blocks import fmt

    parts = []
    wins = figures.get("win_rate")
    if wins:
        significance = "significant" if wins["p_value"] < 0.05 else "not significant"
        parts.append(f"**{label}** wins {fmt(wins['value'])} of the prompts against the base as the judge sees it "
                     f"(95 % CI {_interval(wins)}; {wins['wins']} wins, {wins['ties']} ties, {wins['losses']} losses; "
                     f"sign test p = {wins['p_value']:.3g}, {significance}).")
    margin = figures.get("margin_change")
    if margin:
        who = "Its" if wins else f"**{label}**:"
        parts.append(f"{who} chosen-vs-rejected log-prob margin changed by {margin['mean']:+.3f} nats per held-out pair "
                     f"(95 % CI {_interval(margin)}; paired bootstrap p = {margin['p_value']:.3g}) and rose on "
                     f"{fmt(margin['rose_share'])} of the {margin['pairs']} pairs.")
    return " ".join(parts)


def _changed_answers(summary: dict[str, Any], results: dict[str, dict[str, Any]]) -> list[tuple[str, Any]]:
    """The prompts where the judge's verdict moved most between the base and the first tuned model, both ways."""
    base = summary.get("base")
    tuned = next((label for label, r in results.items() if r["role"] == "tuned"), None)
    if base is None or tuned is None or "reward" not in (results[tuned]["predictions"] or [{}])[0]:
        return []
    pairs = list(zip(results[base]["predictions"], results[tuned]["predictions"]))
    ranked = sorted(pairs, key=lambda pair: pair[1]["reward"] - pair[0]["reward"])
    shown = ranked[:EXAMPLES_SHOWN] + ranked[-EXAMPLES_SHOWN:][::-1] if len(ranked) > 2 * EXAMPLES_SHOWN else ranked[::-1]
    from antrenor.reporting.blocks import fmt

    rows = [[before["prompt"][:160], before["prediction"][:160], after["prediction"][:160],
             fmt(after["reward"] - before["reward"])] for before, after in shown]
    return [("h3", f"Largest reward changes: {tuned} vs base"),
            ("table", (["prompt", "base answer", f"{tuned} answer", "reward change"], rows))]


def _reward_model_blocks(summary: dict[str, Any], results: dict[str, dict[str, Any]]) -> list[tuple[str, Any]]:
    from antrenor.reporting.blocks import fmt

    blocks: list[tuple[str, Any]] = [
        ("h2", "Alignment"),
        ("p", f"Each reward model scored the chosen and the rejected answer of {summary['examples']} held-out pairs. "
              "pairwise_accuracy: share of pairs whose chosen answer scores higher (0.5 = chance; a tie counts as "
              "wrong); reward_gap: mean score of chosen minus rejected.")]
    for label, result in results.items():
        wrong = sorted((r for r in result["predictions"] if not r["ranked_correctly"]),
                       key=lambda r: r["reward_chosen"] - r["reward_rejected"])[:EXAMPLES_SHOWN]
        if wrong:
            rows = [[r["prompt"][:160], r["chosen"][:120], r["rejected"][:120], fmt(r["reward_chosen"]),
                     fmt(r["reward_rejected"])] for r in wrong]
            blocks += [("h3", f"Pairs ranked the wrong way: {label}"),
                       ("table", (["prompt", "chosen", "rejected", "reward of chosen", "reward of rejected"], rows))]
    return blocks


def alignment_curve_blocks(label: str, entry: dict[str, Any]) -> list[tuple[str, Any]]:
    """The reward, margin, KL and accuracy figures TRL logged while training, and where each ended."""
    from antrenor.reporting.blocks import fmt

    finals = entry.get("training_curves")
    if not finals:
        return []
    blocks: list[tuple[str, Any]] = []
    image = charts.alignment_curves(training_curves(read_training_log(entry["source"])))
    if image:
        blocks.append(("img", (f"reward, margin and KL curves of {label}", image)))
    rows = [[key, fmt(f["first"], 3), fmt(f["final"], 3), f["step"]] for key, f in finals.items()]
    return blocks + [("table", (["logged figure", "first", "final", "at step"], rows))]


def win_rate_lines(summary: dict[str, Any]) -> list[str]:
    """Terminal lines per tuned model: its held-out margin change and its judged win rate against the base."""
    lines = []
    for label, entry in summary["models"].items():
        margin = entry.get("alignment_vs_base", {}).get("margin_change")
        if margin:
            lines.append(f"{label} vs base: margin log p(chosen) - log p(rejected) {margin['mean']:+.3f} nats per held-out "
                         f"pair (95 % CI {margin['ci95'][0]:+.3f} to {margin['ci95'][1]:+.3f}; p {margin['p_value']:.3g}); "
                         f"rose on {margin['rose_share']:.0%} of {margin['pairs']} pairs")
        wins = entry.get("alignment_vs_base", {}).get("win_rate")
        if wins:
            lines.append(f"{label} vs base: win rate {wins['value']:.2f} (95 % CI {wins['ci95'][0]:.2f}-{wins['ci95'][1]:.2f}; "
                         f"{wins['wins']} wins, {wins['ties']} ties, {wins['losses']} losses; sign test p {wins['p_value']:.3g})")
    return lines
