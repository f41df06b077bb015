"""CI's metric regression check: every reports/*/metrics.json against its committed version.

Rules (direction and tolerance per metric) come from ``claims/<paper>.yaml``. Prints a table
of what regressed and exits non-zero if anything did.

    python -m revis.reporting.regression [--against HEAD]

**Tolerances from the measured spread** (``tolerance: spread``). Float differences between CPUs grow
through training until another machine's run is, for a trained model, about another draw of the seeds.
So the change another machine may produce in a mean over n seeds is the difference of two such means:
sd * sqrt(2 / n), with sd the seed-to-seed standard deviation. A metric counts as regressed when it
moves the wrong way by more than k of those, with k = z(1 - 0.05 / m) for the m spread-ruled metrics
checked (a family-wise 5 % chance that any of them flags when nothing but the machine changed; k is
about 3.6 for the ~300 metrics of the committed reports). The seed sd is the larger of the metric's own
(committed or new) and the pooled seed sd of the metrics its rule covers, because seeds that share an
upstream component (a teacher, a pretraining) can agree more closely than two machines do. A rate
``k/n`` of trials uses the binomial sd sqrt(p (1 - p) / n). A value with no spread of its own (one seed,
one number) uses the spread of the metrics that the rule's ``scale`` glob names (n = 1). Hand-set
numbers remain only for exact quantities (counts, float identities such as orthogonality).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table
from scipy import stats

from revis.reporting.claims import ClaimsFile, RegressionRule, lookup
from revis.reporting.summary import flat_numbers

FAMILY_ALPHA = 0.05  # chance that any spread-ruled metric flags when only the machine changed


@dataclass
class Finding:
    paper: str
    metric: str
    old: float | None
    new: float | None
    rule: str
    regressed: bool


def committed_json(repo: Path, path: Path, revision: str) -> dict | None:
    relative = path.resolve().relative_to(repo.resolve()).as_posix()
    result = subprocess.run(["git", "show", f"{revision}:{relative}"], cwd=repo, capture_output=True, text=True)
    return json.loads(result.stdout) if result.returncode == 0 else None


def _parent(tree: dict, metric: str) -> tuple[Any, str]:
    head, _, leaf = metric.rpartition(".")
    try:
        return (lookup(tree, head) if head else tree), leaf
    except KeyError:
        return None, leaf


def own_spread(tree: dict, metric: str) -> tuple[float, int] | None:
    """(seed sd, n) of a ``mean`` of a mean_std summary, or (Bernoulli sd, trials) of a proportion's ``rate``."""
    parent, leaf = _parent(tree, metric)
    if not isinstance(parent, dict):
        return None
    if leaf == "mean" and isinstance(parent.get("std"), (int, float)) and int(parent.get("n") or 0) >= 2:
        return float(parent["std"]), int(parent["n"])
    if leaf == "rate" and int(parent.get("trials") or 0) > 0 and parent.get("rate") is not None:
        trials = int(parent["trials"])
        rate = min(max(float(parent["rate"]), 1 / trials), 1 - 1 / trials)  # a 0 or 1 rate still has a spread
        return math.sqrt(rate * (1 - rate)), trials
    return None


def group_spread(tree: dict, glob: str, rules: ClaimsFile | None = None) -> float | None:
    """Pooled seed sd (root mean square of the std) of the summaries whose ``.mean`` matches ``glob`` (and,
    given ``rules``, whose first matching rule is that glob's: a broad glob does not pool other units); for
    plain numbers without summaries, the sd across the matched numbers."""
    flat = {
        m: v
        for m, v in flat_numbers(tree).items()
        if fnmatch.fnmatchcase(m, glob) and (rules is None or getattr(rules.rule_for(m), "metric", None) == glob)
    }
    sds = [sd for m in flat if (sd := _mean_sd(tree, m)) is not None]
    if sds:
        return math.sqrt(sum(sd * sd for sd in sds) / len(sds))
    numbers = list(flat.values())
    if len(numbers) >= 2:
        mean = sum(numbers) / len(numbers)
        return math.sqrt(sum((v - mean) ** 2 for v in numbers) / (len(numbers) - 1))
    return None


def _mean_sd(tree: dict, metric: str) -> float | None:
    spread = own_spread(tree, metric) if metric.endswith(".mean") else None
    return spread[0] if spread else None


def spread_tolerance(
    metric: str, rule: RegressionRule, old: dict, new: dict, k: float, rules: ClaimsFile | None = None
) -> tuple[float, str]:
    """k * sd * sqrt(2 / n) (see the module docstring), and how it was derived."""
    spreads = [s for s in (own_spread(old, metric), own_spread(new, metric)) if s is not None]
    _, leaf = _parent(old, metric)
    if spreads and leaf == "rate":
        sd, n = max(s[0] for s in spreads), spreads[0][1]
        derived = "binomial"
    else:
        group = group_spread(old, rule.scale) if rule.scale else group_spread(old, rule.metric, rules)
        own = max((s[0] for s in spreads), default=None)
        candidates = [x for x in (own, group) if x is not None]
        if not candidates or max(candidates) == 0:
            raise ValueError(
                f"`{metric}`: rule {rule.metric!r} derives its tolerance from the spread, but none is measured "
                "(no std over >= 2 seeds, no trials, and no `scale` glob with a spread)"
            )
        sd, n = max(candidates), (spreads[0][1] if spreads else 1)
        derived = "pooled" if group is not None and (own is None or group > own) else "seeds"
    return k * sd * math.sqrt(2 / n), f"{derived} sd {sd:.3g}, n={n}, k={k:.2f}"


def family_k(count: int) -> float:
    """k = z(1 - 0.05 / m): a family-wise 5 % chance that one of m unchanged metrics flags."""
    return float(stats.norm.ppf(1 - FAMILY_ALPHA / max(count, 1)))


def spread_ruled(old: dict, rules: ClaimsFile) -> int:
    """How many of a file's metrics a ``tolerance: spread`` rule checks."""
    ruled = (rules.rule_for(m) for m in flat_numbers(old))
    return sum(1 for r in ruled if r is not None and r.direction != "ignore" and r.tolerance == "spread")


def compare(
    paper: str, old: dict, new: dict, rules: ClaimsFile, k: float | None = None
) -> tuple[list[Finding], list[str]]:
    """Findings for every ruled metric, and the names of metrics no rule covers. ``k``: the spread multiple
    (default: from this file's count of spread-ruled metrics)."""
    k = family_k(spread_ruled(old, rules)) if k is None else k
    old_flat, new_flat = flat_numbers(old), flat_numbers(new)
    findings, unruled = [], []
    for metric in sorted(set(old_flat) | set(new_flat)):
        rule = rules.rule_for(metric)
        if rule is None:
            unruled.append(metric)
            continue
        if rule.direction == "ignore":
            continue
        before, after = old_flat.get(metric), new_flat.get(metric)
        if before is None:  # a new metric cannot regress
            continue
        if rule.tolerance == "spread":
            tolerance, how = spread_tolerance(metric, rule, old, new, k, rules)
        else:
            tolerance, how = float(rule.tolerance), "fixed"
        if after is None:
            regressed = True
        elif rule.direction == "higher":
            regressed = after < before - tolerance
        elif rule.direction == "lower":
            regressed = after > before + tolerance
        else:
            regressed = abs(after - before) > tolerance
        findings.append(Finding(paper, metric, before, after, f"{rule.direction} ±{tolerance:.3g} ({how})", regressed))
    return findings, unruled


def check(repo: Path, revision: str = "HEAD") -> tuple[list[Finding], dict[str, list[str]]]:
    findings: list[Finding] = []
    unruled: dict[str, list[str]] = {}
    papers = []
    for metrics_path in sorted((repo / "reports").glob("*/metrics.json")):
        paper = metrics_path.parent.name
        old = committed_json(repo, metrics_path, revision)
        if old is None:
            continue
        claims_path = repo / "claims" / f"{paper}.yaml"
        rules = (
            ClaimsFile.model_validate(yaml.safe_load(claims_path.read_text()))
            if claims_path.exists()
            else ClaimsFile.model_validate({"paper": paper, "title": paper})
        )
        papers.append((paper, old, json.loads(metrics_path.read_text()), rules))
    k = family_k(sum(spread_ruled(old, rules) for _, old, _, rules in papers))  # one family: the whole run
    for paper, old, new, rules in papers:
        paper_findings, paper_unruled = compare(paper, old, new, rules, k)
        findings += paper_findings
        if paper_unruled:
            unruled[paper] = paper_unruled
    return findings, unruled


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", default="HEAD", help="git revision holding the reference metrics")
    parser.add_argument("--repo", type=Path, default=Path.cwd())
    args = parser.parse_args(argv)
    findings, unruled = check(args.repo, args.against)
    console = Console(width=140)
    regressed = [f for f in findings if f.regressed]
    table = Table(title=f"metric regressions against {args.against}")
    for column in ("paper", "metric", "committed", "now", "rule"):
        table.add_column(column)
    for f in regressed:
        fmt = lambda v: "missing" if v is None else f"{v:.6g}"  # noqa: E731
        table.add_row(f.paper, f.metric, fmt(f.old), fmt(f.new), f.rule)
    if regressed:
        console.print(table)
    for paper, names in unruled.items():
        console.print(f"[yellow]{paper}: {len(names)} metrics have no regression rule[/] (e.g. {names[0]})")
    console.print(f"checked {len(findings)} metrics: {len(regressed)} regressed")
    return 1 if regressed else 0


if __name__ == "__main__":
    sys.exit(main())
