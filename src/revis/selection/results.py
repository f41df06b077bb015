"""The metrics of a coreset-selection experiment for detection: AP per (method, budget) over seeds.

Rows come from the pipeline: ``subsets`` (one per label x budget x seed: picked image ids,
coverage) and ``runs`` (the detector trained on each: test AP50, AP50-95, per class, and on
each half of the test split). Seeds pair up: seed s of every arm shares everything upstream
(its feature detector, its selection draw, its training seed), so arms are compared by per-seed
differences (``paired``).

How well the experiment resolves a difference is part of its result (``resolution``): the
sample sd of the per-seed differences and the smallest mean difference a one-sided paired t
test at ``alpha`` would call significant with this many seeds; and the test split's own
sampling noise, estimated from its two halves (sd of AP50 on the whole split ~ sd(half A -
half B) / 2).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from scipy import stats

from revis.reporting.summary import mean_std
from revis.selection.grid import lam_label


def group(rows: Iterable[dict[str, Any]], *keys: str) -> dict[tuple, list[dict[str, Any]]]:
    grouped: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[tuple(row[k] for k in keys)].append(row)
    return dict(grouped)


def per_seed(rows: Sequence[dict[str, Any]], key: str = "ap50") -> dict[int, float]:
    return {int(r["seed"]): float(r[key]) for r in rows}


def paired(a: dict[int, float], b: dict[int, float]) -> tuple[list[float], list[int]]:
    """Per-seed differences a_s - b_s over the seeds both have, in seed order."""
    seeds = sorted(set(a) & set(b))
    return [a[s] - b[s] for s in seeds], seeds


def detectable_difference(differences: Sequence[float], alpha: float = 0.05) -> float | None:
    """The smallest mean difference a one-sided paired t test at ``alpha`` calls significant, given this spread."""
    n = len(differences)
    if n < 2:
        return None
    sd = float(np.std(differences, ddof=1))
    return float(stats.t.ppf(1 - alpha, n - 1) * sd / math.sqrt(n))


def _half_noise(pairs: list[tuple[float, float]]) -> float | None:
    """sd of the whole split's AP50 from its halves: sqrt(mean((A - B)^2)) / 2."""
    if not pairs:
        return None
    return float(math.sqrt(np.mean([(a - b) ** 2 for a, b in pairs])) / 2)


def summarize_experiment(
    runs: Sequence[dict[str, Any]],
    subsets: Sequence[dict[str, Any]],
    features: dict[int, dict[str, Any]],
    *,
    methods: Sequence[str],
    budgets: Sequence[int],
    seeds: Sequence[int],
    main_lam: float,
    sweep_values: Sequence[float],
    sweep_budgets: Sequence[int],
    alpha: float = 0.05,
) -> dict[str, Any]:
    """metrics.json of a csod run (see the module doc); no wall times, nothing machine-dependent."""
    ap50: dict[str, dict[str, Any]] = defaultdict(dict)
    ap50_95: dict[str, dict[str, Any]] = defaultdict(dict)
    per_class: dict[str, dict[str, Any]] = defaultdict(dict)
    by_arm = group(runs, "label", "budget")
    for (label, budget), rows in sorted(by_arm.items()):
        rows = sorted(rows, key=lambda r: r["seed"])
        order = [int(r["seed"]) for r in rows]
        ap50[label][f"b{budget}"] = mean_std([r["ap50"] for r in rows], order)
        ap50_95[label][f"b{budget}"] = mean_std([r["ap50_95"] for r in rows], order)
        classes = sorted({c for r in rows for c in r["ap50_per_class"]})
        per_class[label][f"b{budget}"] = {
            c: float(np.mean([r["ap50_per_class"].get(c, 0.0) for r in rows])) for c in classes
        }

    def arm(label: str, budget: int) -> dict[int, float]:
        return per_seed(by_arm.get((label, budget), []))

    gap: dict[str, Any] = {}
    resolution: dict[str, Any] = {}

    def compare(name: str, budget: int, a: dict[int, float], b: dict[int, float]) -> list[float]:
        differences, common = paired(a, b)
        if differences:
            resolution.setdefault(name, {})[f"b{budget}"] = {
                "sd": float(np.std(differences, ddof=1)) if len(differences) > 1 else None,
                "detectable": detectable_difference(differences, alpha),
                "n": len(differences),
            }
        return differences

    for budget in budgets:
        differences, common = paired(arm("csod", budget), arm("random", budget))
        if differences:
            gap[f"b{budget}"] = mean_std(differences, common)
            compare("csod_minus_random", budget, arm("csod", budget), arm("random", budget))
    smallest = min(budgets)
    for other in ("balanced_random", "csod_image", "facility_location", "k_center"):
        if other in methods:
            compare(f"csod_minus_{other}", smallest, arm("csod", smallest), arm(other, smallest))

    sweep: dict[str, Any] = {}
    picks = {(s["label"], s["budget"], s["seed"]): set(s["image_ids"]) for s in subsets}
    for budget in sweep_budgets:
        entry: dict[str, Any] = {"lambdas": [float(v) for v in sweep_values], "picks_differing_from_lam0": {}}
        zero = "csod_lam0"
        for value in sweep_values:
            label = f"csod_{lam_label(value)}"
            if value != 0 and (zero, budget, seeds[0]) in picks:
                changed = [
                    len(picks[(label, budget, s)] - picks[(zero, budget, s)])
                    for s in seeds
                    if (label, budget, s) in picks and (zero, budget, s) in picks
                ]
                entry["picks_differing_from_lam0"][lam_label(value)] = float(np.mean(changed))
        if 0.0 in [float(v) for v in sweep_values]:
            compare("csod_minus_csod_lam0", budget, arm("csod", budget), arm(zero, budget))
            compare("random_minus_csod_lam0", budget, arm("random", budget), arm(zero, budget))
        sweep[f"b{budget}"] = entry

    coverage: dict[str, dict[str, Any]] = defaultdict(dict)
    for (label, budget), rows in sorted(group(subsets, "label", "budget").items()):
        coverage[label][f"b{budget}"] = {
            "classes_covered": float(np.mean([r["coverage"]["classes_covered"] for r in rows])),
            "min_boxes_per_class": float(np.mean([r["coverage"]["min_boxes_per_class"] for r in rows])),
            "boxes": float(np.mean([r["coverage"]["boxes"] for r in rows])),
        }

    trained = [r for r in runs if not r["reused"]]
    halves = [tuple(r["ap50_halves"]) for r in trained if None not in r["ap50_halves"]]
    difference_halves = []
    for budget in budgets:
        csod_rows = {r["seed"]: r for r in by_arm.get(("csod", budget), [])}
        for r in by_arm.get(("random", budget), []):
            c = csod_rows.get(r["seed"])
            if c is not None and None not in c["ap50_halves"] and None not in r["ap50_halves"]:
                difference_halves.append(
                    (c["ap50_halves"][0] - r["ap50_halves"][0], c["ap50_halves"][1] - r["ap50_halves"][1])
                )
    arm_sds = [float(np.std(list(per_seed(rows).values()), ddof=1)) for rows in by_arm.values() if len(rows) > 1]
    feature_seeds = sorted(features)
    first = features[feature_seeds[0]]
    return {
        "ap50": dict(ap50),
        "ap50_95": dict(ap50_95),
        "ap50_per_class": dict(per_class),
        "gap_csod_minus_random": gap,
        "lambda_sweep": sweep,
        "coverage": dict(coverage),
        "resolution": {
            **resolution,
            "seed_sd_ap50": float(math.sqrt(np.mean(np.square(arm_sds)))) if arm_sds else None,
            "test_split_sd_ap50": _half_noise(halves),
            "test_split_sd_csod_minus_random": _half_noise(difference_halves),
        },
        "full_data": {
            "ap50": mean_std([features[s]["ap50"] for s in feature_seeds], feature_seeds),
            "ap50_95": mean_std([features[s]["ap50_95"] for s in feature_seeds], feature_seeds),
            "images": int(first["train_images"]),
        },
        "test_split": {"images": int(first["n_images"])},
        "n_classes": len(subsets[0]["coverage"]["boxes_per_class"]),
        "schedule": {
            "steps": {f"b{b}": int(rows[0]["steps"]) for (b,), rows in sorted(group(runs, "budget").items())},
            "epochs": {f"b{b}": int(rows[0]["epochs"]) for (b,), rows in sorted(group(runs, "budget").items())},
            "feature_detector_steps": int(first["steps"]),
            "main_lambda": float(main_lam),
        },
    }
