"""What a run shows of its paper's metrics.json: the headline first, every number one click away.

An evaluate stage's metrics.json holds 20 to 1,600 numbers. Logged as MLflow metrics they
bury the claims' headline under hundreds of one-bar charts, so a run gets:

- ``headline/<claim id>``: the effect of each ``paper`` claim (ours minus its baseline), and
  ``verdicts/<verdict>``: how many paper claims hold, do not hold, are inconclusive;
- the summaries the claims compare (``<metric>.mean``, ``.std``, ``.rate``, ...: the numbers a
  reader checks a verdict against), under their own dotted names;
- a run description (the first thing a run page shows): the paper's title and a table of its
  claims with verdict and effect;
- artifacts ``metrics.json`` (as written) and ``metrics_table.csv``: one row per summary with its
  mean, sd, n and the value of every seed (MLflow's artifact view shows it as a table).

A metrics file without a claims file (the scoreboard's verdicts.json) is logged whole, as before.
Counts (``.n``, ``.trials``, ``.successes``) are never metrics.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from revis.reporting.summary import flat_numbers

COUNT_SUFFIXES = (".n", ".trials", ".successes")
DESCRIPTION_TAG = "mlflow.note.content"  # MLflow's run and experiment descriptions
TABLE_ARTIFACT = "metrics_table.csv"


@dataclass
class RunMetrics:
    metrics: dict[str, float] = field(default_factory=dict)
    description: str | None = None
    table: str = ""


def referenced_paths(raw_claims: dict[str, Any]) -> list[str]:
    """The metric paths a claims file compares or shows (claims' and gates' ``compare``, ``ours``, ``check``)."""
    paths: list[str] = []
    for entry in [*(raw_claims.get("gates") or []), *(raw_claims.get("claims") or [])]:
        compare = entry.get("compare") or {}
        for value in (compare.get("metric"), compare.get("baseline"), entry.get("ours")):
            if isinstance(value, str) and value.split(":")[0] == value:  # not "<paper>:<gate>"
                paths.append(value)
        for side in str(entry.get("check") or "").split():
            if any(c.isalpha() for c in side) and "." in side:
                paths.append(side)
    return list(dict.fromkeys(paths))


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return str(value)


def headline_description(title: str | None, rows: list[tuple[str, str, float | None, str]]) -> str:
    """Markdown: the title, then one row per claim (id, verdict, effect, the claim in words)."""
    lines = [f"**{title}**", ""] if title else []
    if rows:
        lines += ["| claim | verdict | effect | what it says |", "|---|---|---|---|"]
        lines += [f"| {cid} | {verdict} | {_fmt(effect)} | {text} |" for cid, verdict, effect, text in rows]
        lines.append("")
    lines.append(f"Every number, per seed: artifacts `metrics.json` and `{TABLE_ARTIFACT}`.")
    return "\n".join(lines)


def summary_table(metrics: dict[str, Any]) -> str:
    """CSV: one row per number or summary of ``metrics`` (dotted name), with each seed's value as a column."""
    rows: list[dict[str, Any]] = []
    seeds: list[str] = []

    def walk(tree: dict[str, Any], prefix: str) -> None:
        for key, value in tree.items():
            name = f"{prefix}{key}"
            if isinstance(value, dict) and isinstance(value.get("values"), list):
                row = {"metric": name, **{k: value.get(k) for k in ("mean", "std", "n")}}
                labels = value.get("seeds") or list(range(len(value["values"])))
                for seed, v in zip(labels, value["values"]):
                    column = f"seed{seed}"
                    if column not in seeds:
                        seeds.append(column)
                    row[column] = v
                rows.append(row)
            elif isinstance(value, dict):
                walk(value, f"{name}.")
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                rows.append({"metric": name, "mean": value})

    walk(metrics, "")
    out = io.StringIO()
    writer = csv.DictWriter(out, ["metric", "mean", "std", "n", *seeds], extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def run_metrics(metrics: dict[str, Any], claims_path: str | Path | None) -> RunMetrics:
    """What the run of a stage that wrote ``metrics`` logs (see the module's docstring)."""
    numbers = {k: v for k, v in flat_numbers(metrics).items() if not k.endswith(COUNT_SUFFIXES)}
    if not claims_path or not Path(claims_path).is_file():
        return RunMetrics(metrics=numbers)
    from revis.reporting.claims import ClaimsFile
    from revis.reporting.scoreboard import paper_verdicts

    raw = yaml.safe_load(Path(claims_path).read_text()) or {}
    claims = ClaimsFile.model_validate(raw)
    values: dict[str, float] = {}
    counts: dict[str, int] = {}
    rows: list[tuple[str, str, float | None, str]] = []
    others: list[tuple[str, str, float | None, str]] = []  # listed after the paper's claims, never counted
    for claim, verdict in paper_verdicts(claims, metrics):
        if claim.kind != "paper":
            others.append((claim.id, f"{verdict.verdict} ({claim.kind})", verdict.effect, claim.claim))
            continue
        counts[verdict.verdict] = counts.get(verdict.verdict, 0) + 1
        rows.append((claim.id, verdict.verdict, verdict.effect, claim.claim))
        if verdict.effect is not None and math.isfinite(verdict.effect):
            values[f"headline/{claim.id}"] = float(verdict.effect)
    for name, count in sorted(counts.items()):
        values[f"verdicts/{name.replace(' ', '_')}"] = count
    for path in referenced_paths(raw):  # the summaries behind the verdicts, e.g. ap50.csod.b10.mean
        for name, value in numbers.items():
            if name == path or name.startswith(f"{path}."):
                values[name] = value
    return RunMetrics(values, headline_description(raw.get("title"), rows + others), summary_table(metrics))
