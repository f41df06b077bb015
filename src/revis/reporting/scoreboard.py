"""``reports/SCOREBOARD.md`` and ``reports/verdicts.json``: every paper's gates and claims, judged.

Order of judgement: first every file's capability gates (``claims/<paper>.yaml`` ``gates:``), then each
claim on its own metrics; a claim whose gates do not all hold is *not evaluable (gate …)*. Counted
``paper`` claims get Benjamini-Hochberg q-values over all of them together; every row shows the
one-sided bound that matches its test, its p-value and its stability (leave one seed out; items: bootstrap).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from revis.reporting.claims import (
    Claim,
    ClaimsFile,
    Gate,
    claim_paths,
    evaluate_claim,
    lookup,
    stability,
    stability_unit,
)
from revis.reporting.verdicts import DOES_NOT_HOLD, HOLDS, INCONCLUSIVE, NOT_EVALUABLE, Verdict, benjamini_hochberg

VERDICTS = (HOLDS, DOES_NOT_HOLD, INCONCLUSIVE, NOT_EVALUABLE)
FDR = 0.05  # Benjamini-Hochberg level over all counted paper claims
SHOWN = {
    HOLDS: "holds",
    DOES_NOT_HOLD: "**does not hold**",
    INCONCLUSIVE: "inconclusive",
    NOT_EVALUABLE: "not evaluable",
}
SANITY_SHOWN = {HOLDS: "pass", DOES_NOT_HOLD: "**fail**", INCONCLUSIVE: "inconclusive", NOT_EVALUABLE: "not evaluated"}
Papers = dict[str, tuple[dict[str, Any], dict[str, Any]]]


@dataclass
class Row:
    """One gate or claim, judged."""

    paper: str
    item: Claim | Gate
    tested: Verdict  # the test on the metrics alone
    verdict: Verdict  # after the gates: `tested`, or not evaluable (gate ...)
    gates: list[str] = field(default_factory=list)
    failed_gates: list[str] = field(default_factory=list)
    stability: float | None = None
    stability_unit: str | None = None  # "seeds" (leave one out) or "items" (bootstrap), see claims.stability
    q: float | None = None

    @property
    def kind(self) -> str:
        return self.item.kind

    @property
    def counted(self) -> bool:
        return self.kind == "paper"

    @property
    def survives_bh(self) -> bool:
        return self.verdict.verdict == HOLDS and self.q is not None and self.q <= FDR


@dataclass
class PaperJudgement:
    claims: ClaimsFile
    metrics: dict[str, Any]
    gates: list[Row]
    rows: list[Row]


def judge(papers: Papers, *, external_gates: bool = True) -> dict[str, PaperJudgement]:
    """Gates, then claims (gated), then BH q-values over the counted paper claims of every paper.

    ``external_gates=False`` skips references to other papers' gates (when judging one file alone)."""
    files = {paper: ClaimsFile.model_validate(raw) for paper, (raw, _) in sorted(papers.items())}
    judged: dict[str, PaperJudgement] = {}
    gate_rows: dict[str, Row] = {}
    for paper, claims in files.items():
        metrics = papers[paper][1]
        rows = []
        for gate in claims.gates:
            tested = evaluate_claim(gate, metrics, claims.alpha)
            row = Row(paper, gate, tested, tested, stability=stability(gate, metrics, tested, claims.alpha))
            row.stability_unit = stability_unit(gate, metrics) if row.stability is not None else None
            rows.append(row)
            gate_rows[f"{paper}:{gate.id}"] = row
        judged[paper] = PaperJudgement(claims, metrics, rows, [])
    for paper, claims in files.items():
        metrics = papers[paper][1]
        for claim in claims.claims:
            tested = evaluate_claim(claim, metrics, claims.alpha)
            refs = [r for r in claims.gates_of(claim) if external_gates or r.split(":", 1)[0] == paper]
            failed = [r for r in refs if r not in gate_rows or gate_rows[r].verdict.verdict != HOLDS]
            verdict = tested
            if failed and tested.verdict != NOT_EVALUABLE:
                verdict = Verdict(
                    NOT_EVALUABLE,
                    tested.effect,
                    tested.ci,
                    tested.p,
                    tested.n,
                    tested.test,
                    "; ".join(_gate_reason(r, gate_rows.get(r)) for r in failed),
                    tested.bound,
                    tested.direction,
                )
            row = Row(paper, claim, tested, verdict, refs, failed, stability(claim, metrics, tested, claims.alpha))
            row.stability_unit = stability_unit(claim, metrics) if row.stability is not None else None
            judged[paper].rows.append(row)
    counted = [row for j in judged.values() for row in j.rows if row.counted and row.verdict.verdict != NOT_EVALUABLE]
    # a tested claim without a p-value (no spread) counts as p = 1: it was tried and showed nothing
    for row, q in zip(counted, benjamini_hochberg([1.0 if r.verdict.p is None else r.verdict.p for r in counted])):
        row.q = q
    return judged


def _gate_reason(ref: str, row: Row | None) -> str:
    if row is None:
        return f"gate {ref}: no such gate"
    v = row.verdict
    detail = f", effect {v.effect:+.3g}" if v.effect is not None else ""
    if v.bound is not None and row.item.compare is not None:
        label = "worst seed" if row.item.compare.test == "every_seed" else "one-sided bound"
        detail += f", {label} {v.bound:+.3g}"
    why = f" ({v.reason})" if v.reason else ""
    return f"gate {ref} {v.verdict}{detail}{why}"


def paper_verdicts(claims: ClaimsFile, metrics: dict[str, Any]) -> list[tuple[Claim, Verdict]]:
    """One file's claims judged alone (its own gates applied; other papers' gates not known here)."""
    judgement = judge({claims.paper: (claims.model_dump(), metrics)}, external_gates=False)[claims.paper]
    return [(row.item, row.verdict) for row in judgement.rows if isinstance(row.item, Claim)]


def verdict_counts(claims: ClaimsFile, metrics: dict[str, Any]) -> Counter:
    """Verdict counts of the ``paper`` claims."""
    return Counter(v.verdict for c, v in paper_verdicts(claims, metrics) if c.kind == "paper")


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


def _ours(item: Claim | Gate, metrics: dict[str, Any]) -> str:
    ours = item.ours if isinstance(item, Claim) else None
    paths = [ours] if ours else [p for p in claim_paths(item) if p != ours]
    if item.compare is None and not ours:
        return ""
    shown = []
    for path in paths:
        try:
            shown.append(describe(lookup(metrics, path)))
        except KeyError:
            shown.append(f"missing `{path}`")
    if item.compare is not None and not isinstance(item.compare.baseline, str) and not ours:
        shown.append(_number(float(item.compare.baseline)) + (" (chance)" if item.compare.chance else ""))
    return " vs ".join(shown)


def _signed(value: float) -> str:
    return ("+∞" if value > 0 else "−∞") if math.isinf(value) else f"{value:+.3g}"


def _effect(verdict: Verdict) -> str:
    if verdict.effect is None:
        return "–"
    text = _signed(verdict.effect)
    if verdict.bound is not None:
        text += f" ({'≥' if verdict.direction == 'greater' else '≤'} {_signed(verdict.bound)})"
    return text


def _p(value: float | None) -> str:
    return "–" if value is None else f"{value:.3g}"


def _stability(row: Row) -> str:
    if row.stability is None:
        return "–"
    return f"{row.stability:.0%}" + (" (items)" if row.stability_unit == "items" else "")


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _test(row: Row) -> str:
    v = row.tested
    return f"{_cell(v.test)} ({_cell(v.n)})" if v.test else "–"


def _verdict(row: Row, shown: dict[str, str] = SHOWN) -> str:
    why = f" ({row.verdict.reason})" if row.verdict.reason else ""
    return shown[row.verdict.verdict] + _cell(why)


def _claim_text(item: Claim | Gate) -> str:
    why = f" [{item.kind}: {item.why_kind}]" if isinstance(item, Claim) and item.why_kind else ""
    return _cell(item.claim + (f" — {item.note}" if item.note else "") + why)


def _paper_counts(rows: list[Row]) -> Counter:
    counts = Counter(r.verdict.verdict for r in rows if r.counted)
    counts["bh"] = sum(r.survives_bh for r in rows if r.counted)
    # holds that a resample (one seed left out, or a bootstrap of the items) turns into another verdict
    counts["unstable"] = sum(
        r.counted and r.verdict.verdict == HOLDS and r.stability is not None and r.stability < 1 for r in rows
    )
    return counts


def _key(verdict: str) -> str:
    return verdict.replace(" ", "_")


def scoreboard_outputs(papers: Papers) -> tuple[str, dict[str, Any]]:
    """SCOREBOARD.md and verdicts.json from one judgement."""
    judged = judge(papers)
    return scoreboard_markdown(papers, judged), scoreboard_verdicts(papers, judged)


def scoreboard_verdicts(papers: Papers, judged: dict[str, PaperJudgement] | None = None) -> dict[str, Any]:
    """``reports/verdicts.json`` (a DVC metric, and MLflow metrics): counts in total and per pipeline, the
    effects of the counted claims, and every gate and claim with its verdict, bound, p, q and stability."""
    judged = judge(papers) if judged is None else judged
    per_paper, headline, details = {}, {}, {}
    for paper, j in judged.items():
        counts = _paper_counts(j.rows)
        per_paper[paper] = {_key(v): counts[v] for v in VERDICTS} | {
            "holds_after_bh": counts["bh"],
            "holds_unstable": counts["unstable"],
        }
        per_paper[paper]["gates_passed"] = sum(g.verdict.verdict == HOLDS for g in j.gates)
        per_paper[paper]["gates"] = len(j.gates)
        headline[paper] = {r.item.id: r.verdict.effect for r in j.rows if r.counted and r.verdict.effect is not None}
        details[paper] = {
            row.item.id: {
                "kind": row.kind,
                "verdict": row.verdict.verdict,
                "tested_verdict": row.tested.verdict,
                "effect": row.verdict.effect,
                "bound": row.verdict.bound,
                "direction": row.verdict.direction,
                "p": row.verdict.p,
                "q": row.q,
                "stability": row.stability,
                "stability_over": row.stability_unit,
                "n": row.verdict.n,
                "test": row.verdict.test,
                "gates": row.gates,
                "failed_gates": row.failed_gates,
                "reason": row.verdict.reason,
            }
            for row in j.gates + j.rows
        }
    total = {key: sum(p[key] for p in per_paper.values()) for key in next(iter(per_paper.values()), {})}
    all_rows = [row for j in judged.values() for row in j.rows]
    kinds = {
        kind: {_key(v): sum(r.kind == kind and r.verdict.verdict == v for r in all_rows) for v in VERDICTS}
        for kind in ("extension", "sanity")
    }
    return {"total": total, "per_pipeline": per_paper, "headline": headline, **kinds, "claims": details}


HEADER = """# Scoreboard: published claims vs. what revis measured

Generated by the `scoreboard` pipeline from `claims/<paper>.yaml` and
`reports/<paper>/metrics.json` -- do not edit by hand. *Published* is the paper's number at
the paper's scale; *ours* is measured at the scale stated per paper. A small-scale run can
confirm or contradict the *direction* of a claim, never reproduce its number.

**Verdicts.** A claim **holds** when the effect is in the claimed direction and a one-sided test
rejects at the stated level over seeds that vary the chain; it **does not hold** when the test in
the opposite direction rejects; it is **inconclusive** when neither rejects; it is **not evaluable**
when it could not be tested: a metric is missing, or a **capability gate** failed (the model
cannot show the effect at all, e.g. the detector never learned to detect; the gate's numbers are
given). A gate is decided like a claim and passes only when it holds.

**Kinds.** *Paper* claims are published by the paper and counted in the headline; each compares
with a measured arm that could win (a constant only for claims against chance, marked "chance").
*Extensions* are our own questions, listed apart and not counted; *sanity* checks are
implementation properties (pass / fail / inconclusive / not evaluated).

**Reading a row.** *Effect* is ours minus the baseline (the median for the sign test, rho for
correlations) with the one-sided 95 % bound that matches the test: the claim holds exactly when
the bound clears zero (or the margin). *q* is the Benjamini–Hochberg adjusted p-value over all
counted paper claims that were tested. *Stability* is the share of leave-one-seed-out samples that
give the same verdict; "(items)": a test over the items of one frozen model (prompts, phrases), where it is
the share of 200 bootstrap resamples of the items ("–": an exact check, counts of trials, or fewer than 3 seeds).

**One world draw.** The seeds vary the chain (initialisation, batches, subsets, synthesis) but not
the world's data: every pipeline's world is drawn once (`world.seed` and the other world seeds are
fixed), so **every verdict is conditional on that one draw of the data**; where a file states what
all seeds share, it is listed under *World draw* below.
"""


def scoreboard_markdown(papers: Papers, judged: dict[str, PaperJudgement] | None = None) -> str:
    """``papers``: name -> (claims file content, metrics.json content)."""
    judged = judge(papers) if judged is None else judged
    all_rows = [row for j in judged.values() for row in j.rows]
    totals = _paper_counts(all_rows)
    sanity = Counter(r.verdict.verdict for r in all_rows if r.kind == "sanity")
    extension = Counter(r.verdict.verdict for r in all_rows if r.kind == "extension")
    gates = [g for j in judged.values() for g in j.gates]
    summary_rows, world_rows, sections = [], [], []
    for paper, j in judged.items():
        counts = _paper_counts(j.rows)
        passed = sum(g.verdict.verdict == HOLDS for g in j.gates)
        summary_rows.append(
            f"| {paper} | {counts[HOLDS]} | {counts['bh']} | {counts[DOES_NOT_HOLD]} | {counts[INCONCLUSIVE]} "
            f"| {counts[NOT_EVALUABLE]} | {passed}/{len(j.gates)} |"
        )
        world_rows.append(f"- **{paper}**: {_cell(j.claims.world_draw or 'not stated (the world drawn once)')}")
        sections += _section(paper, j)
    lines = [
        HEADER,
        f"**Paper claims: {totals[HOLDS]} hold ({totals['bh']} after Benjamini–Hochberg at q = {FDR:g}; "
        f"{totals['unstable']} unstable: stability below 100 %), "
        f"{totals[DOES_NOT_HOLD]} do not hold, {totals[INCONCLUSIVE]} inconclusive, "
        f"{totals[NOT_EVALUABLE]} not evaluable**, over {len(papers)} pipelines. "
        f"Capability gates: {sum(g.verdict.verdict == HOLDS for g in gates)} of {len(gates)} pass. "
        f"Extensions (not counted): {extension[HOLDS]} hold, {extension[DOES_NOT_HOLD]} do not hold, "
        f"{extension[INCONCLUSIVE]} inconclusive, {extension[NOT_EVALUABLE]} not evaluable. "
        f"Sanity checks (not counted): {sanity[HOLDS]} pass, {sanity[DOES_NOT_HOLD]} fail, "
        f"{sanity[INCONCLUSIVE]} inconclusive, {sanity[NOT_EVALUABLE]} not evaluated.",
        "",
        "| pipeline | holds | holds after BH | does not hold | inconclusive | not evaluable | gates passed |",
        "|---|---|---|---|---|---|---|",
        *summary_rows,
        "",
        "### World draw (what every seed of a pipeline shares)",
        "",
        *world_rows,
        "",
    ]
    return "\n".join(lines + sections)


def _section(paper: str, j: PaperJudgement) -> list[str]:
    claims, metrics = j.claims, j.metrics
    section = [f"## {paper}: {claims.title}", "", f"Scale: {metrics.get('scale', 'not stated')}", ""]
    if claims.source:
        section += [f"Source: {claims.source}", ""]
    section += [f"One-sided tests at α = {claims.alpha:g}; bounds are one-sided {1 - claims.alpha:.0%}.", ""]
    if j.gates:
        section += [
            "Capability gates (a claim they guard is not evaluable unless they hold):",
            "",
            "| gate | ours | effect (bound) | test (n) | p | stability | result |",
            "|---|---|---|---|---|---|---|",
        ]
        section += [
            f"| {_claim_text(g.item)} (`{g.item.id}`) | {_cell(_ours(g.item, metrics))} | {_effect(g.verdict)} "
            f"| {_test(g)} | {_p(g.verdict.p)} | {_stability(g)} | {_verdict(g)} |"
            for g in j.gates
        ]
        section.append("")
    paper_rows = [r for r in j.rows if r.kind == "paper"]
    section += [
        "| claim | published | ours | effect (one-sided bound) | test (n) | p | q (BH) | stability | verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in paper_rows:
        item = row.item
        published = "–" if not isinstance(item, Claim) or item.published is None else item.published
        section.append(
            f"| {_claim_text(item)} | {_cell(published)} | {_cell(_ours(item, metrics))} | {_effect(row.tested)} "
            f"| {_test(row)} | {_p(row.tested.p)} | {_p(row.q)} | {_stability(row)} | {_verdict(row)} |"
        )
    extensions = [r for r in j.rows if r.kind == "extension"]
    if extensions:
        section += [
            "",
            "Extensions (our own questions, not in the paper; not counted):",
            "",
            "| question | ours | effect (one-sided bound) | test (n) | p | stability | verdict |",
            "|---|---|---|---|---|---|---|",
        ]
        section += [
            f"| {_claim_text(r.item)} | {_cell(_ours(r.item, metrics))} | {_effect(r.tested)} | {_test(r)} "
            f"| {_p(r.tested.p)} | {_stability(r)} | {_verdict(r)} |"
            for r in extensions
        ]
    sanity = [r for r in j.rows if r.kind == "sanity"]
    if sanity:
        section += [
            "",
            "Sanity checks (implementation properties, also tested in `tests/`; not counted):",
            "",
            "| check | ours | effect (one-sided bound) | p | result |",
            "|---|---|---|---|---|",
        ]
        for row in sanity:
            item = row.item
            detail = item.check or (item.compare.test if item.compare else "")
            ours = _ours(item, metrics) or row.tested.reason
            result = (
                _verdict(row, SANITY_SHOWN) if item.compare or row.failed_gates else SANITY_SHOWN[row.verdict.verdict]
            )
            section.append(
                f"| {_claim_text(item)} (`{_cell(detail)}`) | {_cell(ours)} | {_effect(row.tested)} "
                f"| {_p(row.tested.p)} | {result} |"
            )
    return [*section, ""]
