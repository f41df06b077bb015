"""The committed claims files ``claims/<paper>.yaml``: claims with their tests, and regression rules.

A claims file::

    paper: csod
    title: Coreset Selection for Object Detection (CVPR 2024 workshop)
    source: what the paper measured on, and what we measure on (the scale)
    alpha: 0.05                        # one-sided level of every test in the file (default 0.05)
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
        note: anything a reader must know (budget, why n is small, ...)
      - id: csod_covers_every_class
        kind: sanity                   # an implementation property: listed apart, never counted
        claim: CSOD's class-wise turns cover every class
        check: coverage.csod.b10.classes_covered >= n_classes
    regression:                        # CI's regression rules, first matching rule wins
      - {metric: "*.mean", direction: higher, tolerance: 0.03}
      - {metric: "*.std", direction: ignore}

A ``paper`` claim is decided only by a ``compare`` test (three verdicts: holds, does not hold,
inconclusive). A ``sanity`` claim may use an exact ``check``: ``<left> <op> <right>`` with op
one of ``> >= < <= ==`` and each side a dotted metric path or a number.
"""

from __future__ import annotations

import fnmatch
import operator
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from revis.reporting.verdicts import (
    DOES_NOT_HOLD,
    HOLDS,
    NOT_EVALUATED,
    SampleError,
    Verdict,
    evaluate_comparison,
)

OPS = {">=": operator.ge, "<=": operator.le, "==": operator.eq, ">": operator.gt, "<": operator.lt}


class Compare(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metric: str
    baseline: (
        str | float
    )  # a metric path, or a number (one_sample / binomial / spearman also take a path to one number)
    direction: Literal["greater", "less"] = "greater"
    test: Literal["paired_t", "sign", "welch_t", "one_sample", "fisher", "binomial", "spearman"]
    margin: float = 0.0

    @model_validator(mode="after")
    def _baseline_fits_test(self) -> Compare:
        constant = not isinstance(self.baseline, str)
        if self.test in ("paired_t", "sign", "welch_t", "fisher") and constant:
            raise ValueError(f"test {self.test} compares two measured quantities: give `baseline` as a metric path")
        return self


class Claim(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    kind: Literal["paper", "sanity"]
    claim: str
    published: str | float | int | None = None
    compare: Compare | None = None
    check: str | None = None
    ours: str | None = None  # what to show as "ours" (default: compare.metric)
    note: str | None = None

    @model_validator(mode="after")
    def _decided_by_a_test(self) -> Claim:
        if self.kind == "paper" and self.compare is None:
            raise ValueError(f"paper claim '{self.id}' needs a `compare` test (an exact `check` is for sanity claims)")
        if self.compare is None and self.check is None:
            raise ValueError(f"claim '{self.id}' needs `compare` or `check`")
        if self.compare is not None and self.check is not None:
            raise ValueError(f"claim '{self.id}': give `compare` or `check`, not both")
        return self


class RegressionRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metric: str  # glob over dotted metric names
    direction: Literal["higher", "lower", "equal", "ignore"]
    tolerance: float = Field(0.0, ge=0)


class ClaimsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    paper: str
    title: str
    source: str | None = None
    alpha: float = Field(0.05, gt=0, lt=0.5)
    claims: list[Claim] = []
    regression: list[RegressionRule] = []

    @model_validator(mode="after")
    def _unique_ids(self) -> ClaimsFile:
        ids = [c.id for c in self.claims]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate claim ids: {duplicates}")
        return self

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


def claim_paths(claim: Claim) -> list[str]:
    """The metric paths a claim reads (for tests that a pipeline writes every one of them)."""
    if claim.compare is not None:
        paths = [claim.compare.metric]
        if isinstance(claim.compare.baseline, str):
            paths.append(claim.compare.baseline)
    else:
        paths = [t for t in claim.check.split() if t not in OPS and not _is_number(t)]  # type: ignore[union-attr]
    return paths + ([claim.ours] if claim.ours else [])


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def evaluate_claim(claim: Claim, metrics: dict[str, Any], alpha: float = 0.05) -> Verdict:
    """The claim's verdict on ``metrics`` (a paper's metrics.json)."""
    if claim.check is not None:
        result = evaluate_check(claim.check, metrics)
        if result.holds is None:
            return Verdict(NOT_EVALUATED, reason=result.reason)
        return Verdict(
            HOLDS if result.holds else DOES_NOT_HOLD,
            test="exact check",
            reason=f"{result.left:.4g} vs {result.right:.4g}",
        )
    compare = claim.compare
    assert compare is not None
    try:
        a = lookup(metrics, compare.metric)
        b = lookup(metrics, compare.baseline) if isinstance(compare.baseline, str) else compare.baseline
    except KeyError as exc:
        return Verdict(NOT_EVALUATED, reason=f"missing metric `{exc.args[0]}`")
    if compare.test in ("one_sample", "binomial", "spearman") and not isinstance(b, (int, float)):
        return Verdict(NOT_EVALUATED, reason=f"`{compare.baseline}` is not one number (test {compare.test})")
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
        return Verdict(NOT_EVALUATED, reason=str(exc))
