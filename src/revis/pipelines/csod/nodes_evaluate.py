"""``csod-evaluate``: metrics.json (AP per method and budget over whole-chain seeds, paired gaps, resolution), plots."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt

from revis.datasets.voc import VocData
from revis.detection.data import detection_splits
from revis.pipelines.csod.params import DataParams, SelectParams
from revis.selection.grid import lam_label
from revis.selection.pictures import ap_per_seed_figure, first_picks, lambda_sweep_figure, selected_images_figure
from revis.selection.results import CsodMetrics, Grid, summarize_experiment


def report_metrics(
    runs: list[dict[str, Any]],
    subsets: list[dict[str, Any]],
    detector_report: dict[str, Any],
    world: VocData,
    seeds: list[int],
    data: DataParams,
    select: SelectParams,
) -> tuple[CsodMetrics, plt.Figure, plt.Figure, plt.Figure]:
    """Metrics, AP50 of every arm per seed, the lambda sweep and the first picks of each method."""
    grid = Grid(
        methods=select.methods,
        budgets=select.budgets,
        seeds=seeds,
        main_lam=select.csod.lam,
        sweep_values=select.lambda_sweep.values,
        sweep_budgets=select.lambda_sweep.budgets,
    )
    metrics = summarize_experiment(runs, subsets, detector_report, grid)
    arms = [*select.methods, *(f"csod_{lam_label(v)}" for v in select.lambda_sweep.values if v != select.csod.lam)]
    splits = detection_splits(world, data.voc_root, data.train_splits, data.test_split, data.class_names)
    budget, seed = min(select.budgets), seeds[0]
    picks = selected_images_figure(
        first_picks(subsets, select.methods, budget, seed),
        {r.image_id: r for r in splits.train},
        splits.class_names,
        f"first {min(8, budget)} images picked per method (budget {budget}, seed {seed})",
    )
    return (
        metrics,
        ap_per_seed_figure(metrics, arms, len(seeds)),
        lambda_sweep_figure(metrics, select.csod.reduction),
        picks,
    )
