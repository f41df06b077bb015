"""``csod-evaluate``: metrics.json (AP per method and budget over whole-chain seeds, paired gaps, resolution), plots."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt

from revis.datasets.voc import VocData
from revis.detection.data import detection_splits
from revis.pipelines.csod.params import DataParams, SelectParams
from revis.selection.grid import lam_label
from revis.selection.pictures import ap_per_seed_figure, lambda_sweep_figure, selected_images_figure
from revis.selection.results import summarize_experiment

COUNTS = ("records", "boxes", "boxes_clipped", "filename_fallbacks", "size_from_image")
LABEL_COUNTS = (
    "images",
    "boxes",
    "difficult_left_out",
    "one_pixel_left_out",
    "duplicates_left_out",
    "jpeg_end_marker_added",
)


def evaluate_csod(
    runs: list[dict[str, Any]],
    subsets: list[dict[str, Any]],
    detector_report: dict[str, Any],
    world: VocData,
    seeds: list[int],
    data: DataParams,
    select: SelectParams,
) -> tuple[dict[str, Any], plt.Figure, plt.Figure, plt.Figure]:
    """Metrics, AP50 of every arm per seed, the lambda sweep and the first picks of each method."""
    features = {int(s): r for s, r in detector_report["seeds"].items()}
    metrics = summarize_experiment(
        runs,
        subsets,
        features,
        methods=select.methods,
        budgets=select.budgets,
        seeds=seeds,
        main_lam=select.csod.lam,
        sweep_values=select.lambda_sweep.values,
        sweep_budgets=select.lambda_sweep.budgets,
    )
    metrics["data"] = {
        "reader": {k: detector_report["reader"][k] for k in COUNTS},
        "labels": {k: detector_report["labels"][k] for k in LABEL_COUNTS},
    }
    pool = metrics["full_data"]["images"]
    budgets = sorted(select.budgets)
    metrics["scale"] = (
        f"mini world CPU: pool of {pool} train images, test split of {metrics['test_split']['images']} images, "
        f"budgets {budgets} ({100 * budgets[0] / pool:.0f}-{100 * budgets[-1] / pool:.0f} % of the pool), "
        f"{len(seeds)} whole-chain seeds (feature detector, selection, training), YOLOv8n from scratch, "
        f"{max(r['steps'] for r in runs)} optimiser steps per subset; paper: VOC07+12 16551 -> 200 images, Faster R-CNN"
    )
    arms = [*select.methods, *(f"csod_{lam_label(v)}" for v in select.lambda_sweep.values if v != select.csod.lam)]
    splits = detection_splits(world, data.voc_root, data.train_splits, data.test_split, data.class_names)
    budget, seed = budgets[0], seeds[0]
    chosen = {
        s["label"]: s["image_ids"][:8]
        for s in subsets
        if s["budget"] == budget and s["seed"] == seed and s["label"] in select.methods
    }
    picks = selected_images_figure(
        chosen,
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
