"""The committed claims files ``claims/<paper>.yaml``: claims with their tests, and regression rules.

A claims file::

    paper: csod
    title: Coreset Selection for Object Detection (CVPR 2024 workshop)
    source: what the paper measured on, and what we measure on (the scale)
    alpha: 0.05                        # one-sided level of every test in the file (default 0.05)
    world_draw: the data every seed shares (one draw of the world), so what the verdicts are conditional on
    gates:                             # capability gates: without them the claims cannot be tested
      - id: detector_trained
        kind: gate                     # optional (the only kind a gate has)
        gate: The full-data detector reaches AP50 >= 0.3 on every seed
        compare: {metric: full_data.ap50, baseline: 0.3, direction: greater, test: every_seed}
    claims:
      - id: csod_beats_random_b10
        kind: paper                    # paper: a claim of the paper (counted in the headline)
        claim: CSOD's subset trains a better detector than a random one (10 images)
        published: "+6.4 AP50 over random (VOC, 200 images)"
        compare:
          metric: ap50.csod.b10        # a summary in metrics.json (values over seeds, or counts)
          baseline: ap50.random.b10    # another summary, or a number
          direction: greater           # the claimed direction: metric > baseline (or less)
          test: paired_t               # see revis.reporting.verdicts
          margin: 0.0                  # optional: the effect must exceed this
        gates: [detector_trained]      # optional; default: every gate of the file ("<paper>:<gate id>" for another's)
        note: anything a reader must know (budget, why n is small, ...)
      - id: csod_covers_every_class
        kind: sanity                   # an implementation property: listed apart, never counted
        claim: CSOD's class-wise turns cover every class
        check: coverage.csod.b10.classes_covered >= n_classes
    regression:                        # CI's regression rules, first matching rule wins
      - {metric: "*.mean", direction: higher, tolerance: 0.03}
      - {metric: "*.std", direction: ignore}

Kinds: ``paper`` (a claim the paper publishes; counted in the headline), ``extension`` (our own question,
not in the paper; listed in its own table, not counted), ``sanity`` (an implementation property). A
``paper`` or ``extension`` claim is decided only by a ``compare`` test (verdicts: holds, does not hold,
inconclusive, not evaluable). A ``sanity`` claim may use an exact ``check``: ``<left> <op> <right>``
with op one of ``> >= < <= ==`` and each side a dotted metric path or a number.

**Gates.** A gate is decided like a claim (``compare`` or ``check``) and passes iff its verdict is
holds. A claim lists the gates it needs in ``gates`` (default: every gate of its file and of its
``gates_from`` list for ``paper`` and ``extension`` claims, none for ``sanity`` checks); a claim whose gate does not pass is **not evaluable
(gate <id>)**. A constant baseline (``one_sample``, ``binomial``, ``spearman``, ``every_seed``) in a
counted paper claim must be chance level, flagged ``chance: true``; every other counted claim compares
two measured arms (``counted_claim_problems`` lists the claims that do not).

``spearman_per_seed`` correlates ``levels`` with the per-seed summaries at ``metric`` (a template with
``{level}``) seed by seed, and tests the per-seed rho over seeds (the seeds, not the pairs, are the units).
"""

from __future__ import annotations

import fnmatch
import operator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from revis.reporting.verdicts import (
    DOES_NOT_HOLD,
    HOLDS,
    NOT_EVALUABLE,
    SampleError,
    TestName,
    Verdict,
    evaluate_comparison,
)

CONSTANT_BASELINE_TESTS = ("one_sample", "binomial", "spearman", "spearman_per_seed")
MAX_SEEDS = 20  # stability is over seeds: a sample with more values holds items (prompts, images)
ITEM_RESAMPLES = 200  # stability over items: this many bootstrap resamples of the items (one fixed draw)

OPS = {">=": operator.ge, "<=": operator.le, "==": operator.eq, ">": operator.gt, "<": operator.lt}


class Compare(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metric: str
    baseline: (
        str | float
    )  # a metric path, or a number (one_sample / binomial / spearman also take a path to one number)
    direction: Literal["greater", "less"] = "greater"
    test: TestName
    margin: float = 0.0
    chance: bool = False  # the constant baseline is chance level (the only constant a counted claim may use)
    levels: list[float] | None = None  # spearman_per_seed: the levels substituted for {level} in `metric`

    @model_validator(mode="after")
    def _baseline_fits_test(self) -> Compare:
        constant = not isinstance(self.baseline, str)
        if self.test in ("paired_t", "sign", "welch_t", "fisher") and constant:
            raise ValueError(f"test {self.test} compares two measured quantities: give `baseline` as a metric path")
        if (self.test == "spearman_per_seed") != (self.levels is not None):
            raise ValueError("`levels` goes with test spearman_per_seed (and that test needs it)")
        if self.levels is not None and "{level}" not in self.metric:
            raise ValueError(f"spearman_per_seed: `metric` must hold '{{level}}', got {self.metric!r}")
        return self

    def metric_paths(self) -> list[str]:
        if self.levels is None:
            return [self.metric]
        return [self.metric.format(level=_level_name(level)) for level in self.levels]

    @property
    def constant_baseline(self) -> bool:
        return not isinstance(self.baseline, str) or self.test in CONSTANT_BASELINE_TESTS


def _level_name(level: float) -> str:
    return str(int(level)) if float(level).is_integer() else str(level)


class Gate(BaseModel):
    """A capability the paper's claims need (e.g. the detector learned at all); decided like a claim."""

    model_config = ConfigDict(extra="forbid")
    id: str
    kind: Literal["gate"] = "gate"  # written in the files too: every entry of a claims file says what it is
    gate: str
    compare: Compare | None = None
    check: str | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _decided_once(self) -> Gate:
        if (self.compare is None) == (self.check is None):
            raise ValueError(f"gate '{self.id}' needs `compare` or `check` (one of them)")
        return self

    @property
    def claim(self) -> str:
        return self.gate


class Claim(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    kind: Literal["paper", "extension", "sanity"]
    claim: str
    published: str | float | int | None = None
    compare: Compare | None = None
    check: str | None = None
    ours: str | None = None  # what to show as "ours" (default: compare.metric)
    gates: list[str] | None = None  # gate ids ("<paper>:<id>" for another file's); None: the default
    why_kind: str | None = None  # why a claim of the paper is not counted (extension / sanity), or its caveat
    note: str | None = None

    @model_validator(mode="after")
    def _decided_by_a_test(self) -> Claim:
        if self.kind in ("paper", "extension") and self.compare is None:
            raise ValueError(
                f"{self.kind} claim '{self.id}' needs a `compare` test (an exact `check` is for sanity claims)"
            )
        if self.compare is None and self.check is None:
            raise ValueError(f"claim '{self.id}' needs `compare` or `check`")
        if self.compare is not None and self.check is not None:
            raise ValueError(f"claim '{self.id}': give `compare` or `check`, not both")
        return self


class RegressionRule(BaseModel):
    """``tolerance``: a number for exact quantities (counts, float identities), or ``spread``: derived from the
    measured seed spread (see ``revis.reporting.regression``); ``scale``: a glob of this file's metrics whose
    spread stands in for values that carry none of their own."""

    model_config = ConfigDict(extra="forbid")
    metric: str  # glob over dotted metric names
    direction: Literal["higher", "lower", "equal", "ignore"]
    tolerance: float | Literal["spread"] = 0.0
    scale: str | None = None

    @model_validator(mode="after")
    def _non_negative(self) -> RegressionRule:
        if isinstance(self.tolerance, float) and self.tolerance < 0:
            raise ValueError(f"rule {self.metric}: tolerance must be >= 0")
        if self.scale is not None and self.tolerance != "spread":
            raise ValueError(f"rule {self.metric}: `scale` goes with `tolerance: spread`")
        return self


class ClaimsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    paper: str
    title: str
    source: str | None = None
    alpha: float = Field(0.05, gt=0, lt=0.5)
    world_draw: str | None = None  # what every seed shares: the verdicts are conditional on it
    gates: list[Gate] = []
    gates_from: list[str] = []  # other papers' gates ("<paper>:<gate id>") that join this file's default set
    claims: list[Claim] = []
    regression: list[RegressionRule] = []

    @model_validator(mode="after")
    def _unique_ids(self) -> ClaimsFile:
        ids = [c.id for c in self.claims] + [g.id for g in self.gates]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate claim or gate ids: {duplicates}")
        own = {g.id for g in self.gates}
        if any(":" not in ref for ref in self.gates_from):
            raise ValueError(f"gates_from names other papers' gates as '<paper>:<gate id>': {self.gates_from}")
        for claim in self.claims:
            unknown = [g for g in claim.gates or [] if ":" not in g and g not in own]
            if unknown:
                raise ValueError(f"claim '{claim.id}' names unknown gates {unknown} (this file's: {sorted(own)})")
        return self

    def gates_of(self, claim: Claim) -> list[str]:
        """The gate references a claim needs, each as ``<paper>:<gate id>``."""
        if claim.gates is not None:
            names = claim.gates
        else:
            own = [g.id for g in self.gates] + list(self.gates_from)
            names = own if claim.kind in ("paper", "extension") else []
        return [name if ":" in name else f"{self.paper}:{name}" for name in names]

    def rule_for(self, metric: str) -> RegressionRule | None:
        return next((rule for rule in self.regression if fnmatch.fnmatchcase(metric, rule.metric)), None)


def lookup(metrics: dict[str, Any], path: str) -> Any:
    """Value at a dotted path (``a.b.c``); ``KeyError`` naming the path when absent."""
    node: Any = metrics
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KeyError(path)
    return node


def _operand(metrics: dict[str, Any], token: str) -> float:
    try:
        return float(token)
    except ValueError:
        return float(lookup(metrics, token))


@dataclass
class CheckResult:
    holds: bool | None  # None: could not be evaluated (metric missing)
    left: float | None
    right: float | None
    reason: str = ""


def evaluate_check(expression: str, metrics: dict[str, Any]) -> CheckResult:
    for symbol, op in OPS.items():  # two-character operators are tried first
        if f" {symbol} " in expression:
            left_token, right_token = (part.strip() for part in expression.split(f" {symbol} ", 1))
            try:
                left, right = _operand(metrics, left_token), _operand(metrics, right_token)
            except (KeyError, TypeError, ValueError) as exc:
                return CheckResult(None, None, None, f"missing metric {exc}")
            return CheckResult(bool(op(left, right)), left, right)
    raise ValueError(f"check must read '<left> <op> <right>' with op in {list(OPS)}: {expression!r}")


def claim_paths(claim: Claim | Gate) -> list[str]:
    """The metric paths a claim (or gate) reads (for tests that a pipeline writes every one of them)."""
    if claim.compare is not None:
        paths = claim.compare.metric_paths()
        if isinstance(claim.compare.baseline, str):
            paths.append(claim.compare.baseline)
    else:
        paths = [t for t in claim.check.split() if t not in OPS and not _is_number(t)]  # type: ignore[union-attr]
    ours = claim.ours if isinstance(claim, Claim) else None
    return paths + ([ours] if ours else [])


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def operands(compare: Compare, metrics: dict[str, Any]) -> tuple[Any, Any]:
    """The compared summaries (``KeyError`` naming a missing path)."""
    if compare.levels is not None:
        samples = [lookup(metrics, path) for path in compare.metric_paths()]
        a: Any = {"levels": list(compare.levels), "samples": samples}
    else:
        a = lookup(metrics, compare.metric)
    b = lookup(metrics, compare.baseline) if isinstance(compare.baseline, str) else compare.baseline
    return a, b


def evaluate_claim(claim: Claim | Gate, metrics: dict[str, Any], alpha: float = 0.05) -> Verdict:
    """The claim's (or gate's) verdict on ``metrics`` (a paper's metrics.json), gates not applied."""
    if claim.check is not None:
        result = evaluate_check(claim.check, metrics)
        if result.holds is None:
            return Verdict(NOT_EVALUABLE, reason=result.reason)
        return Verdict(
            HOLDS if result.holds else DOES_NOT_HOLD,
            test="exact check",
            reason=f"{result.left:.4g} vs {result.right:.4g}",
        )
    compare = claim.compare
    assert compare is not None
    try:
        a, b = operands(compare, metrics)
    except KeyError as exc:
        return Verdict(NOT_EVALUABLE, reason=f"missing metric `{exc.args[0]}`")
    return compare_verdict(compare, a, b, alpha)


def compare_verdict(compare: Compare, a: Any, b: Any, alpha: float) -> Verdict:
    if compare.test in CONSTANT_BASELINE_TESTS and not isinstance(b, (int, float)):
        return Verdict(NOT_EVALUABLE, reason=f"`{compare.baseline}` is not one number (test {compare.test})")
    try:
        return evaluate_comparison(
            a,
            b,
            test=compare.test,
            direction=compare.direction,
            margin=compare.margin,
            alpha=alpha,
            a_path=compare.metric,
            b_path=str(compare.baseline),
        )
    except SampleError as exc:
        return Verdict(NOT_EVALUABLE, reason=str(exc))


def _drop_seed(summary: Any, seed: int, position: int) -> Any:
    """``summary`` without one seed's value (by its recorded seed, else by position)."""
    if isinstance(summary, dict) and "samples" in summary:
        return {**summary, "samples": [_drop_seed(s, seed, position) for s in summary["samples"]]}
    if not (isinstance(summary, dict) and isinstance(summary.get("values"), list)):
        return summary
    seeds = summary.get("seeds")
    index = seeds.index(seed) if isinstance(seeds, list) and seed in seeds else position
    if index >= len(summary["values"]):
        return summary
    kept = {**summary, "values": [v for i, v in enumerate(summary["values"]) if i != index]}
    if isinstance(seeds, list):
        kept["seeds"] = [s for i, s in enumerate(seeds) if i != index]
    return kept


def _seeds(summary: Any) -> list[int]:
    if isinstance(summary, dict) and "samples" in summary:
        return _seeds(summary["samples"][0]) if summary["samples"] else []
    if isinstance(summary, dict) and isinstance(summary.get("values"), list):
        return list(summary.get("seeds") or range(len(summary["values"])))
    return []


def _resample(summary: Any, index: np.ndarray) -> Any:
    """``summary`` with its values (and their seeds) taken at ``index`` (a bootstrap resample)."""
    if isinstance(summary, dict) and "samples" in summary:
        return {**summary, "samples": [_resample(s, index) for s in summary["samples"]]}
    if not (isinstance(summary, dict) and isinstance(summary.get("values"), list)):
        return summary
    kept = {**summary, "values": [summary["values"][i] for i in index]}
    if isinstance(summary.get("seeds"), list):
        kept["seeds"] = [summary["seeds"][i] for i in index]
    return kept


def _item_stability(compare: Compare, a: Any, b: Any, verdict: Verdict, alpha: float) -> float:
    """Share of ``ITEM_RESAMPLES`` bootstrap resamples of the items giving ``verdict`` again; a baseline with as
    many values is paired (resampled with the same items), another one resampled on its own. One fixed draw."""
    rng = np.random.default_rng(0)
    n_a, n_b = len(_seeds(a)), len(_seeds(b))
    same = 0
    for _ in range(ITEM_RESAMPLES):
        index = rng.integers(n_a, size=n_a)
        other = index if n_b == n_a else rng.integers(max(n_b, 1), size=n_b)
        again = compare_verdict(compare, _resample(a, index), _resample(b, other), alpha)
        same += again.verdict == verdict.verdict
    return same / ITEM_RESAMPLES


def stability_unit(claim: Claim | Gate, metrics: dict[str, Any]) -> str | None:
    """What ``stability`` resamples: "seeds" (leave one out), "items" (bootstrap) or None (not resampled)."""
    if claim.compare is None:
        return None
    try:
        a, _ = operands(claim.compare, metrics)
    except KeyError:
        return None
    n = len(_seeds(a))
    return "items" if n > MAX_SEEDS else "seeds" if n >= 3 else None


def stability(claim: Claim | Gate, metrics: dict[str, Any], verdict: Verdict, alpha: float) -> float | None:
    """Share of leave-one-seed-out samples that give ``verdict`` again; for a sample of items (more than
    ``MAX_SEEDS`` values: prompts or images of one frozen model) the share of bootstrap resamples of the items
    (``stability_unit``). None: an exact check, counts of trials, or fewer than 3 seeds."""
    if claim.compare is None or verdict.verdict == NOT_EVALUABLE:
        return None
    try:
        a, b = operands(claim.compare, metrics)
    except KeyError:
        return None
    unit = stability_unit(claim, metrics)
    if unit == "items":
        return _item_stability(claim.compare, a, b, verdict, alpha)
    if unit is None:
        return None
    seeds = _seeds(a)
    same = 0
    for position, seed in enumerate(seeds):
        again = compare_verdict(claim.compare, _drop_seed(a, seed, position), _drop_seed(b, seed, position), alpha)
        same += again.verdict == verdict.verdict
    return same / len(seeds)


def counted_claim_problems(claims: ClaimsFile, metrics: dict[str, Any]) -> list[str]:
    """Why a counted ``paper`` claim cannot be a real test: no gate, a constant baseline that is not chance,
    or a compared quantity without per-seed spread (counts of trials are samples too)."""
    problems = []
    for claim in claims.claims:
        if claim.kind != "paper":
            continue
        compare = claim.compare
        assert compare is not None
        where = f"{claims.paper}.{claim.id}"
        if not claims.gates_of(claim):
            problems.append(f"{where}: no capability gate")
        if compare.constant_baseline and not compare.chance:
            problems.append(f"{where}: constant baseline {compare.baseline!r} is not flagged `chance: true`")
        if compare.test == "every_seed":
            problems.append(f"{where}: every_seed is a rule for gates and sanity checks, not a test")
        paths = compare.metric_paths() + ([compare.baseline] if isinstance(compare.baseline, str) else [])
        for path in paths:
            try:
                value = lookup(metrics, path)
            except KeyError:
                problems.append(f"{where}: `{path}` is missing from metrics.json")
                continue
            if path == compare.baseline and compare.constant_baseline:
                continue  # a chance level is one number by design
            spread = isinstance(value, dict) and (
                "successes" in value or "x" in value or len(value.get("values") or []) >= 2
            )
            if not spread:
                problems.append(f"{where}: `{path}` has no per-seed spread (n < 2, or a single number)")
    return problems
