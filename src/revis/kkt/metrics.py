"""metrics.json of the Deep Support Vectors experiment (dsv), per dataset, as typed results.

Every number is a ``mean_std`` over the dataset's whole-chain seeds (``mean_std_by_seed``):
the teachers θ* (test accuracy, stationarity), the λ fits of the real samples, Spearman's and
Pearson's correlation of Σλ per class with the teacher's class accuracy, retraining on each
real subset and DSV set (``retrain``, ``dsv``), the synthesis curves' ends, the primal-only
ablation (mean pixel gap to the full objective) and the divergence guard.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field

from revis.distill.evaluation import pearson, spearman, summarize
from revis.distill.guard import GuardReport
from revis.reporting.summary import mean_std_by_seed

Summary = dict[str, Any]  # revis.reporting.summary.mean_std
RETRAIN = ("top_lambda", "random")  # the real subsets; every other kind is a DSV set


class DSVDatasetMetrics(BaseModel):
    """One dataset's section of dsv's metrics.json."""

    model_config = ConfigDict(frozen=True, serialize_by_alias=True, validate_by_name=True)
    chance: float
    teacher: dict[str, Summary]
    lambda_: dict[str, Summary] = Field(alias="lambda")
    correlation: dict[str, Summary | None]
    retrain: dict[str, dict[str, Summary]]
    dsv: dict[str, dict[str, Summary]]
    synthesis: dict[str, dict[str, dict[str, Summary]]]
    ablation: dict[str, dict[str, dict[str, Summary]]]
    guard: GuardReport


@dataclass(frozen=True)
class TeacherSeed:
    """One chain's teacher: the test set's predictions, per-class accuracy and Σλ per class (the λ figure)."""

    stats: dict[str, float]
    lam: dict[str, float]
    lambda_sum: list[float]
    class_accuracy: list[float]


def nest(flat: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``"<kind>/<size>" -> value`` into ``kind -> size -> value`` (kinds sorted)."""
    nested: dict[str, dict[str, Any]] = {}
    for key, value in flat.items():
        kind, size = key.split("/")
        nested.setdefault(kind, {})[size] = value
    return dict(sorted(nested.items()))


def by_metric(per_seed: Mapping[int, Mapping[str, float]]) -> dict[str, Summary]:
    """``{seed: {metric: value}}`` into ``{metric: mean_std over seeds}`` (metrics of the first seed).

    An undefined value (NaN or None: e.g. the end entropy of a synthesis whose candidates were all
    pruned) leaves its seed out of that metric, as a constant side does for a correlation.
    """
    out = {}
    for key in next(iter(per_seed.values())):
        values = {s: v[key] for s, v in per_seed.items() if v[key] is not None and math.isfinite(v[key])}
        if values:
            out[key] = mean_std_by_seed(values)
    return out


def teacher_seed(
    logits: torch.Tensor, y_test: torch.Tensor, run: Mapping[str, Any], fit: Mapping[str, Any], num_classes: int
) -> TeacherSeed:
    """A chain's teacher (its test logits, its stationarity ``run``) and its λ fit of the real samples."""
    predicted = logits.argmax(1)
    class_acc = [float((predicted[y_test == c] == c).float().mean()) for c in range(num_classes)]
    lam_sum = [float(fit["lam"][fit["labels"] == c].sum()) for c in range(num_classes)]
    stats = {
        "test_accuracy": float((predicted == y_test).float().mean()),
        "stationarity_ratio": run["stationarity"]["ratio_identifiable"],
        "stationarity_ratio_sgd": run["stationarity_sgd"]["ratio_identifiable"],
        "stationarity_ratio_all": run["stationarity"]["ratio_all"],
        "cosine": run["stationarity"]["cosine_identifiable"],
    }
    lam_values = fit["lam"][fit["alive"]]
    lam = {
        "stat_start": fit["history"]["stat"][0],
        "stat_end": fit["history"]["stat"][-1],
        "alive_fraction": float(fit["alive"].float().mean()),
        "relative_spread": float(lam_values.std() / lam_values.mean()) if len(lam_values) > 1 else 0.0,
    }
    return TeacherSeed(stats, lam, lam_sum, class_acc)


def correlations(teachers: Mapping[int, TeacherSeed]) -> dict[str, dict[int, float]]:
    """Spearman's ρ and Pearson's r of Σλ per class with class accuracy, per seed (a constant side: no value)."""
    corr_s, corr_p = {}, {}
    for seed, t in teachers.items():
        rho, r = spearman(t.lambda_sum, t.class_accuracy), pearson(t.lambda_sum, t.class_accuracy)
        if rho is not None and r is not None:  # a constant side (every class perfect) has no correlation
            corr_s[seed], corr_p[seed] = rho, r
    return {"spearman": corr_s, "pearson": corr_p}


def synthesis_stats(entry: Mapping[str, Any]) -> dict[str, float]:
    """The ends of one synthesis' curves, its surviving share and how far its images moved."""
    h = entry["history"]
    moved = (entry["images"] - entry["initial"][entry["alive"]]).abs().mean() if len(entry["images"]) else 0.0
    return {
        "entropy_start": h["entropy"][0],
        "entropy_end": h["entropy"][-1],
        "stat_start": h["stat"][0],
        "stat_end": h["stat"][-1],
        "alive_fraction": float(entry["alive"].float().mean()),
        "teacher_accuracy_end": h["accuracy"][-1],
        "pixel_change": float(moved),
    }


def primal_gap(full: Mapping[str, Any], primal: Mapping[str, Any]) -> float:
    """Mean pixel gap between the full and the primal-only synthesis from the same start, over the candidates
    both kept (0 when none)."""
    full_all, primal_all = full["initial"].clone(), primal["initial"].clone()
    full_all[full["alive"]], primal_all[primal["alive"]] = full["images"], primal["images"]
    mask = full["alive"] & primal["alive"]
    return float((full_all[mask] - primal_all[mask]).abs().mean()) if mask.any() else 0.0


def ablation(dsvs: Mapping[int, Mapping[str, Any]], keys: Sequence[str]) -> dict[str, dict[str, dict[str, Summary]]]:
    """``kind -> size -> {"image_gap": mean_std}`` for every ``<kind>_primal/<size>`` of ``keys``."""
    out: dict[str, dict[str, dict[str, Summary]]] = {}
    for key in keys:
        if key.split("/")[0].endswith("_primal"):
            full_key = key.replace("_primal", "")
            gaps = {seed: primal_gap(runs[full_key], runs[key]) for seed, runs in dsvs.items()}
            kind, size = full_key.split("/")
            out.setdefault(kind, {})[size] = {"image_gap": mean_std_by_seed(gaps)}
    return out


def synthesis_guards(by_seed: Mapping[int, Mapping[str, Any]]) -> GuardReport:
    """Syntheses rerun at a lower step size (images, or λ after losing every candidate), and those whose loss
    still rose or that still lost every candidate (named: never scored silently)."""
    guards = {f"{key}/seed{seed}": entry["guard"] for seed, runs in by_seed.items() for key, entry in runs.items()}
    diverged = [run for run, guard in guards.items() if guard["diverged"]]
    return GuardReport(
        runs=len(guards),
        restarted=sum(guard["restarts"] > 0 or guard.get("lambda_restarts", 0) > 0 for guard in guards.values()),
        diverged=len(diverged),
        diverged_runs=", ".join(diverged),
    )


def dataset_metrics(
    chance: float,
    accuracies: Mapping[str, float],
    teachers: Mapping[int, TeacherSeed],
    dsvs: Mapping[int, Mapping[str, Any]],
) -> DSVDatasetMetrics:
    """One dataset's metrics from its retraining accuracies (``"<kind>/<size>/<seed>"``), its chains' teachers
    and λ fits, and its syntheses per seed (``{seed: {"<variant>/<ipc>": synthesis}}``)."""
    sets = nest(summarize(accuracies))
    synthesis: dict[str, dict[int, dict[str, float]]] = {}
    for seed, runs in dsvs.items():
        for key, entry in runs.items():
            synthesis.setdefault(key, {})[seed] = synthesis_stats(entry)
    corr = correlations(teachers)
    return DSVDatasetMetrics.model_validate(  # by alias: ``lambda`` is a keyword
        {
            "chance": chance,
            "teacher": by_metric({s: t.stats for s, t in teachers.items()}),
            "lambda": by_metric({s: t.lam for s, t in teachers.items()}),
            "correlation": {name: mean_std_by_seed(values) if values else None for name, values in corr.items()},
            "retrain": {kind: sets[kind] for kind in RETRAIN if kind in sets},
            "dsv": {kind: by for kind, by in sets.items() if kind not in RETRAIN},
            "synthesis": nest({key: by_metric(by_seed) for key, by_seed in synthesis.items()}),
            "ablation": ablation(dsvs, list(synthesis)),
            "guard": synthesis_guards(dsvs),
        }
    )
