"""CI's metric regression check: every reports/*/metrics.json against its committed version.

Rules (direction and tolerance per metric) come from ``claims/<paper>.yaml``. Prints a table
of what regressed and exits non-zero if anything did.

    python -m revis.reporting.regression [--against HEAD]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

from revis.reporting.claims import ClaimsFile
from revis.reporting.summary import flat_numbers


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


def compare(paper: str, old: dict, new: dict, rules: ClaimsFile) -> tuple[list[Finding], list[str]]:
    """Findings for every ruled metric, and the names of metrics no rule covers."""
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
        if after is None:
            regressed = True
        elif rule.direction == "higher":
            regressed = after < before - rule.tolerance
        elif rule.direction == "lower":
            regressed = after > before + rule.tolerance
        else:
            regressed = abs(after - before) > rule.tolerance
        findings.append(Finding(paper, metric, before, after, f"{rule.direction} ±{rule.tolerance:g}", regressed))
    return findings, unruled


def check(repo: Path, revision: str = "HEAD") -> tuple[list[Finding], dict[str, list[str]]]:
    findings: list[Finding] = []
    unruled: dict[str, list[str]] = {}
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
        paper_findings, paper_unruled = compare(paper, old, json.loads(metrics_path.read_text()), rules)
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
