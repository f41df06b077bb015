"""The committed claims files ``claims/<paper>.yaml``: published claims and regression rules.

A claims file::

    paper: dsv
    title: Deep Support Vectors (NeurIPS 2024)
    claims:
      - id: top_lambda_beats_random_10
        claim: retraining on the top-lambda real images beats a random subset (10/class)
        published: "33.69 vs 30.08 (CIFAR-10)"          # the paper's number, as printed
        ours: digits.top_lambda.10.mean                  # dotted path into metrics.json
        holds_if: digits.top_lambda.10.mean > digits.random.10.mean
    regression:                                          # first matching rule wins
      - {metric: "*.mean", direction: higher, tolerance: 0.03}
      - {metric: "*.std", direction: ignore}

``holds_if`` is ``<left> <op> <right>`` with op one of ``> >= < <=`` and each side a dotted
metric path or a number.
"""

from __future__ import annotations

import fnmatch
import operator
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}


class Claim(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    claim: str
    published: str | float | int | None = None
    ours: str
    holds_if: str | None = None
    note: str | None = None


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
    claims: list[Claim] = []
    regression: list[RegressionRule] = []

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
class Verdict:
    holds: bool | None  # None: could not be evaluated (metric missing)
    left: float | None
    right: float | None
    reason: str = ""


def evaluate_holds_if(expression: str, metrics: dict[str, Any]) -> Verdict:
    for symbol, op in OPS.items():  # two-character operators are tried first
        if f" {symbol} " in expression:
            left_token, right_token = (part.strip() for part in expression.split(f" {symbol} ", 1))
            try:
                left, right = _operand(metrics, left_token), _operand(metrics, right_token)
            except (KeyError, TypeError, ValueError) as exc:
                return Verdict(None, None, None, f"missing metric {exc}")
            return Verdict(bool(op(left, right)), left, right)
    raise ValueError(f"holds_if must read '<left> <op> <right>' with op in {list(OPS)}: {expression!r}")
