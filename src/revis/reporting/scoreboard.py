"""``reports/SCOREBOARD.md``: per claim the published value, ours, the effect with its interval, the
test and the verdict. The headline counts ``paper`` claims only; ``sanity`` checks are listed apart.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from revis.reporting.claims import Claim, ClaimsFile, evaluate_claim, lookup
from revis.reporting.verdicts import DOES_NOT_HOLD, HOLDS, INCONCLUSIVE, NOT_EVALUATED, Verdict

VERDICTS = (HOLDS, DOES_NOT_HOLD, INCONCLUSIVE, NOT_EVALUATED)
SHOWN = {
    HOLDS: "holds",
    DOES_NOT_HOLD: "**does not hold**",
    INCONCLUSIVE: "inconclusive",
    NOT_EVALUATED: "not evaluated",
}


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def describe(value: Any) -> str:
    """A metric for a reader: mean ± sd (n), k/n (rate), or the number."""
    if isinstance(value, dict) and "mean" in value:
        sd = value.get("std")
        spread = f" ± {sd:.2g}" if isinstance(sd, (int, float)) else ""
        return f"{value['mean']:.4g}{spread} (n={value.get('n', '?')})"
    if isinstance(value, dict) and "successes" in value:
        rate = value.get("rate")
        return f"{value['successes']}/{value['trials']}" + (f" ({rate:.1%})" if rate is not None else "")
    if isinstance(value, dict) and "x" in value:
        return f"{len(value['x'])} pairs"
    return _number(value)


def _ours(claim: Claim, metrics: dict[str, Any]) -> str:
    paths = [claim.ours] if claim.ours else []
    if not paths and claim.compare is not None:
        paths = [claim.compare.metric]
        if isinstance(claim.compare.baseline, str):
            paths.append(claim.compare.baseline)
    shown = []
    for path in paths:
        try:
            shown.append(describe(lookup(metrics, path)))
        except KeyError:
            shown.append(f"missing `{path}`")
    if claim.compare is not None and not isinstance(claim.compare.baseline, str) and not claim.ours:
        shown.append(_number(float(claim.compare.baseline)))
    return " vs ".join(shown)


def _effect(verdict: Verdict) -> str:
    if verdict.effect is None:
        return "–"
    text = f"{verdict.effect:+.3g}"
    if verdict.ci is not None:
        text += f" [{verdict.ci[0]:+.3g}, {verdict.ci[1]:+.3g}]"
    return text


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def paper_verdicts(claims: ClaimsFile, metrics: dict[str, Any]) -> list[tuple[Claim, Verdict]]:
    return [(claim, evaluate_claim(claim, metrics, claims.alpha)) for claim in claims.claims]


def verdict_counts(claims: ClaimsFile, metrics: dict[str, Any]) -> Counter:
    """Verdict counts of the ``paper`` claims."""
    return Counter(v.verdict for c, v in paper_verdicts(claims, metrics) if c.kind == "paper")


def scoreboard_verdicts(papers: dict[str, tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    """Verdict counts of the paper claims, in total and per pipeline, and each claim's effect (ours minus
    the baseline): ``reports/verdicts.json``, a DVC metric (``dvc exp show``) and MLflow metrics."""
    per_paper, headline = {}, {}
    for paper, (raw_claims, metrics) in sorted(papers.items()):
        claims = ClaimsFile.model_validate(raw_claims)
        judged = [(c, v) for c, v in paper_verdicts(claims, metrics) if c.kind == "paper"]
        counts = Counter(v.verdict for _, v in judged)
        per_paper[paper] = {v.replace(" ", "_"): counts[v] for v in VERDICTS}
        headline[paper] = {c.id: v.effect for c, v in judged if v.effect is not None}
    total = {v.replace(" ", "_"): sum(p[v.replace(" ", "_")] for p in per_paper.values()) for v in VERDICTS}
    return {"total": total, "per_pipeline": per_paper, "headline": headline}


def scoreboard_markdown(papers: dict[str, tuple[dict[str, Any], dict[str, Any]]]) -> str:
    """``papers``: name -> (claims file content, metrics.json content)."""
    totals: Counter = Counter()
    sanity_totals: Counter = Counter()
    summary_rows, sections = [], []
    for paper, (raw_claims, metrics) in sorted(papers.items()):
        claims = ClaimsFile.model_validate(raw_claims)
        judged = paper_verdicts(claims, metrics)
        counts = Counter(v.verdict for c, v in judged if c.kind == "paper")
        totals += counts
        sanity_totals += Counter(v.verdict for c, v in judged if c.kind == "sanity")
        summary_rows.append(f"| {paper} | " + " | ".join(str(counts[v]) for v in VERDICTS) + " |")
        section = [f"## {paper}: {claims.title}", "", f"Scale: {metrics.get('scale', 'not stated')}", ""]
        if claims.source:
            section += [f"Source: {claims.source}", ""]
        section += [
            f"One-sided tests at α = {claims.alpha:g}.",
            "",
            "| claim | published | ours | effect [95 % CI] | test (n) | p | verdict |",
            "|---|---|---|---|---|---|---|",
        ]
        for claim, verdict in judged:
            if claim.kind != "paper":
                continue
            text = claim.claim + (f" — {claim.note}" if claim.note else "")
            why = f" ({verdict.reason})" if verdict.reason else ""
            p = "–" if verdict.p is None else f"{verdict.p:.3g}"
            published = "–" if claim.published is None else claim.published
            section.append(
                f"| {_cell(text)} | {_cell(published)} | {_cell(_ours(claim, metrics))} | {_effect(verdict)} "
                f"| {_cell(verdict.test)} ({_cell(verdict.n)}) | {p} | {SHOWN[verdict.verdict]}{_cell(why)} |"
            )
        sanity = [(c, v) for c, v in judged if c.kind == "sanity"]
        if sanity:
            section += [
                "",
                "Sanity checks (implementation properties, also tested in `tests/`; not counted):",
                "",
                "| check | ours | result |",
                "|---|---|---|",
            ]
            for claim, verdict in sanity:
                detail = claim.check or (claim.compare.test if claim.compare else "")
                section.append(
                    f"| {_cell(claim.claim)} (`{_cell(detail)}`) | {_cell(verdict.reason or '')} "
                    f"| {SHOWN[verdict.verdict]} |"
                )
        sections += section + [""]
    lines = [
        "# Scoreboard: published claims vs. what revis measured",
        "",
        "Generated by the `scoreboard` pipeline from `claims/<paper>.yaml` and",
        "`reports/<paper>/metrics.json` -- do not edit by hand. *Published* is the paper's number at",
        "the paper's scale; *ours* is measured at the scale stated per paper. A small-scale run can",
        "confirm or contradict the *direction* of a claim, never reproduce its number.",
        "",
        "A claim **holds** when the effect is in the claimed direction and a one-sided test rejects",
        "at the stated level over seeds that vary the whole chain; it **does not hold** when the test",
        "in the opposite direction rejects; otherwise it is **inconclusive**. *Effect* is ours minus",
        "the baseline (or the correlation), with its 95 % interval; *n* counts seeds (or trials).",
        "",
        f"**Paper claims: {totals[HOLDS]} hold, {totals[DOES_NOT_HOLD]} do not hold, "
        f"{totals[INCONCLUSIVE]} inconclusive, {totals[NOT_EVALUATED]} not evaluated**, over {len(papers)} "
        f"pipelines. Sanity checks (not counted): {sanity_totals[HOLDS]} pass, "
        f"{sanity_totals[DOES_NOT_HOLD]} fail, {sanity_totals[NOT_EVALUATED]} not evaluated.",
        "",
        "| pipeline | holds | does not hold | inconclusive | not evaluated |",
        "|---|---|---|---|---|",
        *summary_rows,
        "",
    ]
    return "\n".join(lines + sections)
