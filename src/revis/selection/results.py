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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from revis.reporting.summary import mean_std
from revis.selection.grid import lam_label

Summary = dict[str, Any]  # revis.reporting.summary.mean_std: mean, std, n, values, seeds
Row = Mapping[str, Any]  # a row of csod's subsets.json / runs.json
# counts of the feature detectors' report that metrics.json repeats (the reader's and the YOLO conversion's)
READER_COUNTS = ("records", "boxes", "boxes_clipped", "filename_fallbacks", "size_from_image")
LABEL_COUNTS = (
    "images",
    "boxes",
    "difficult_left_out",
    "one_pixel_left_out",
    "duplicates_left_out",
    "jpeg_end_marker_added",
)


def group(rows: Iterable[Row], *keys: str) -> dict[tuple, list[Row]]:
    grouped: dict[tuple, list[Row]] = defaultdict(list)
    for row in rows:
        grouped[tuple(row[k] for k in keys)].append(row)
    return dict(grouped)


def per_seed(rows: Sequence[Row], key: str = "ap50") -> dict[int, float]:
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
    from scipy import stats  # here, not at import: csod-select uses this module and never a t quantile

    sd = float(np.std(differences, ddof=1))
    return float(stats.t.ppf(1 - alpha, n - 1) * sd / math.sqrt(n))


def _half_noise(pairs: list[tuple[float, float]]) -> float | None:
    """sd of the whole split's AP50 from its halves: sqrt(mean((A - B)^2)) / 2."""
    if not pairs:
        return None
    return float(math.sqrt(np.mean([(a - b) ** 2 for a, b in pairs])) / 2)


@dataclass(frozen=True)
class FullData:
    """The feature detectors (trained on the whole pool): test AP over seeds, pool size."""

    ap50: Summary
    ap50_95: Summary
    images: int


@dataclass(frozen=True)
class TestSplit:
    images: int


@dataclass(frozen=True)
class CsodSchedule:
    steps: dict[str, int]  # "b<budget>" -> optimizer steps of each subset's detector
    epochs: dict[str, int]
    feature_detector_steps: int
    main_lambda: float


@dataclass(frozen=True)
class DataCounts:
    reader: dict[str, int]  # READER_COUNTS of the VOC reader
    labels: dict[str, int]  # LABEL_COUNTS of the YOLO conversion


@dataclass(frozen=True)
class CsodMetrics:
    """metrics.json of a csod run (keys as in the file)."""

    ap50: dict[str, dict[str, Summary]]  # label -> "b<budget>" -> per-seed summary
    ap50_95: dict[str, dict[str, Summary]]
    ap50_per_class: dict[str, dict[str, dict[str, float]]]  # label -> budget -> class -> mean over seeds
    gap_csod_minus_random: dict[str, Summary]
    lambda_sweep: dict[str, dict[str, Any]]
    coverage: dict[str, dict[str, dict[str, float]]]
    resolution: dict[str, Any]
    full_data: FullData
    test_split: TestSplit
    n_classes: int
    schedule: CsodSchedule
    data: DataCounts
    scale: str


@dataclass(frozen=True)
class Grid:
    """What the experiment ran: methods, budgets, whole-chain seeds, the main lambda and the sweep."""

    methods: Sequence[str]
    budgets: Sequence[int]
    seeds: Sequence[int]
    main_lam: float
    sweep_values: Sequence[float]
    sweep_budgets: Sequence[int]


def ap_tables(
    by_arm: Mapping[tuple, list[Row]],
) -> tuple[dict[str, dict[str, Summary]], dict[str, dict[str, Summary]], dict[str, dict[str, dict[str, float]]]]:
    """AP50, AP50-95 (per-seed summaries) and mean AP50 per class, per label and budget."""
    ap50: dict[str, dict[str, Summary]] = defaultdict(dict)
    ap50_95: dict[str, dict[str, Summary]] = defaultdict(dict)
    per_class: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
    for (label, budget), rows in sorted(by_arm.items()):
        rows = sorted(rows, key=lambda r: r["seed"])
        order = [int(r["seed"]) for r in rows]
        ap50[label][f"b{budget}"] = mean_std([r["ap50"] for r in rows], order)
        ap50_95[label][f"b{budget}"] = mean_std([r["ap50_95"] for r in rows], order)
        classes = sorted({c for r in rows for c in r["ap50_per_class"]})
        per_class[label][f"b{budget}"] = {
            c: float(np.mean([r["ap50_per_class"].get(c, 0.0) for r in rows])) for c in classes
        }
    return dict(ap50), dict(ap50_95), dict(per_class)


class _Comparisons:
    """Paired comparisons of arms (per-seed AP50 differences) and how well each is resolved."""

    def __init__(self, by_arm: Mapping[tuple, list[Row]], alpha: float) -> None:
        self.by_arm, self.alpha = by_arm, alpha
        self.resolution: dict[str, Any] = {}

    def arm(self, label: str, budget: int) -> dict[int, float]:
        return per_seed(self.by_arm.get((label, budget), []))

    def compare(self, name: str, budget: int, a: str, b: str) -> None:
        differences, _ = paired(self.arm(a, budget), self.arm(b, budget))
        if differences:
            self.resolution.setdefault(name, {})[f"b{budget}"] = {
                "sd": float(np.std(differences, ddof=1)) if len(differences) > 1 else None,
                "detectable": detectable_difference(differences, self.alpha),
                "n": len(differences),
            }


def gaps(comparisons: _Comparisons, grid: Grid) -> dict[str, Summary]:
    """CSOD - random per budget (per-seed differences), and the resolution of CSOD against every other method."""
    gap: dict[str, Summary] = {}
    for budget in grid.budgets:
        differences, common = paired(comparisons.arm("csod", budget), comparisons.arm("random", budget))
        if differences:
            gap[f"b{budget}"] = mean_std(differences, common)
            comparisons.compare("csod_minus_random", budget, "csod", "random")
    smallest = min(grid.budgets)
    for other in ("balanced_random", "csod_image", "facility_location", "k_center"):
        if other in grid.methods:
            comparisons.compare(f"csod_minus_{other}", smallest, "csod", other)
    return gap


def lambda_sweep(subsets: Sequence[Row], comparisons: _Comparisons, grid: Grid) -> dict[str, dict[str, Any]]:
    """Per sweep budget: the lambdas and how many picks each changes against lambda = 0 (mean over seeds)."""
    sweep: dict[str, dict[str, Any]] = {}
    picks = {(s["label"], s["budget"], s["seed"]): set(s["image_ids"]) for s in subsets}
    zero = "csod_lam0"
    for budget in grid.sweep_budgets:
        differing: dict[str, float] = {}
        for value in grid.sweep_values:
            label = f"csod_{lam_label(value)}"
            if value != 0 and (zero, budget, grid.seeds[0]) in picks:
                changed = [
                    len(picks[(label, budget, s)] - picks[(zero, budget, s)])
                    for s in grid.seeds
                    if (label, budget, s) in picks and (zero, budget, s) in picks
                ]
                differing[lam_label(value)] = float(np.mean(changed))
        if 0.0 in [float(v) for v in grid.sweep_values]:
            comparisons.compare("csod_minus_csod_lam0", budget, "csod", zero)
            comparisons.compare("random_minus_csod_lam0", budget, "random", zero)
        sweep[f"b{budget}"] = {
            "lambdas": [float(v) for v in grid.sweep_values],
            "picks_differing_from_lam0": differing,
        }
    return sweep


def coverage_table(subsets: Sequence[Row]) -> dict[str, dict[str, dict[str, float]]]:
    """Per label and budget, the subsets' class coverage averaged over seeds."""
    coverage: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
    for (label, budget), rows in sorted(group(subsets, "label", "budget").items()):
        coverage[label][f"b{budget}"] = {
            "classes_covered": float(np.mean([r["coverage"]["classes_covered"] for r in rows])),
            "min_boxes_per_class": float(np.mean([r["coverage"]["min_boxes_per_class"] for r in rows])),
            "boxes": float(np.mean([r["coverage"]["boxes"] for r in rows])),
        }
    return dict(coverage)


def noise_estimates(runs: Sequence[Row], by_arm: Mapping[tuple, list[Row]], budgets: Sequence[int]) -> dict[str, Any]:
    """The seed sd of AP50 and the test split's own noise (from its halves), of AP50 and of CSOD - random."""
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
    return {
        "seed_sd_ap50": float(math.sqrt(np.mean(np.square(arm_sds)))) if arm_sds else None,
        "test_split_sd_ap50": _half_noise(halves),
        "test_split_sd_csod_minus_random": _half_noise(difference_halves),
    }


def data_counts(detector_report: Mapping[str, Any]) -> DataCounts:
    """The reader's and the YOLO conversion's counts from the feature detectors' report."""
    return DataCounts(
        reader={k: detector_report["reader"][k] for k in READER_COUNTS},
        labels={k: detector_report["labels"][k] for k in LABEL_COUNTS},
    )


def scale_text(pool: int, test_images: int, budgets: Sequence[int], seeds: int, steps: int) -> str:
    """The run's scale in words (the paper's in the same sentence)."""
    budgets = sorted(budgets)
    return (
        f"mini world CPU: pool of {pool} train images, test split of {test_images} images, "
        f"budgets {budgets} ({100 * budgets[0] / pool:.0f}-{100 * budgets[-1] / pool:.0f} % of the pool), "
        f"{seeds} whole-chain seeds (feature detector, selection, training), YOLOv8n from scratch, "
        f"{steps} optimiser steps per subset; paper: VOC07+12 16551 -> 200 images, Faster R-CNN"
    )


def summarize_experiment(
    runs: Sequence[Row],
    subsets: Sequence[Row],
    detector_report: Mapping[str, Any],
    grid: Grid,
    alpha: float = 0.05,
) -> CsodMetrics:
    """metrics.json of a csod run (see the module doc); no wall times, nothing machine-dependent.

    ``detector_report``: the feature detectors' report (``seeds``: seed -> test AP, sizes; ``reader``, ``labels``).
    """
    features = {int(s): r for s, r in detector_report["seeds"].items()}
    by_arm = group(runs, "label", "budget")
    ap50, ap50_95, per_class = ap_tables(by_arm)
    comparisons = _Comparisons(by_arm, alpha)
    gap = gaps(comparisons, grid)
    sweep = lambda_sweep(subsets, comparisons, grid)
    feature_seeds = sorted(features)
    first = features[feature_seeds[0]]
    by_budget = sorted(group(runs, "budget").items())
    return CsodMetrics(
        ap50=ap50,
        ap50_95=ap50_95,
        ap50_per_class=per_class,
        gap_csod_minus_random=gap,
        lambda_sweep=sweep,
        coverage=coverage_table(subsets),
        resolution={**comparisons.resolution, **noise_estimates(runs, by_arm, grid.budgets)},
        full_data=FullData(
            ap50=mean_std([features[s]["ap50"] for s in feature_seeds], feature_seeds),
            ap50_95=mean_std([features[s]["ap50_95"] for s in feature_seeds], feature_seeds),
            images=int(first["train_images"]),
        ),
        test_split=TestSplit(images=int(first["n_images"])),
        n_classes=len(subsets[0]["coverage"]["boxes_per_class"]),
        schedule=CsodSchedule(
            steps={f"b{b}": int(rows[0]["steps"]) for (b,), rows in by_budget},
            epochs={f"b{b}": int(rows[0]["epochs"]) for (b,), rows in by_budget},
            feature_detector_steps=int(first["steps"]),
            main_lambda=float(grid.main_lam),
        ),
        data=data_counts(detector_report),
        scale=scale_text(
            int(first["train_images"]),
            int(first["n_images"]),
            grid.budgets,
            len(grid.seeds),
            max(r["steps"] for r in runs),
        ),
    )
