"""Pictures of a coreset-selection experiment: AP50 against the budget, the lambda sweep, the picks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from revis.datasets.images import load_image
from revis.datasets.voc import VocRecord
from revis.selection.grid import lam_label
from revis.selection.results import CsodMetrics


def _budget(key: str) -> int:
    return int(key[1:])


def ap_per_seed_figure(metrics: CsodMetrics, labels: Sequence[str], n_seeds: int) -> plt.Figure:
    """Test AP50 of every arm, one panel per budget: each seed's value, seeds joined across arms (they pair)."""
    budgets = sorted({_budget(k) for table in metrics.ap50.values() for k in table})
    fig, axes = plt.subplots(1, len(budgets), figsize=(1.2 + 1.3 * len(labels) * len(budgets), 3.6), squeeze=False)
    colours = plt.get_cmap("tab10")
    reference = metrics.full_data.ap50
    for ax, budget in zip(axes[0], budgets):
        key = f"b{budget}"
        arms = [label for label in labels if key in metrics.ap50.get(label, {})]
        by_seed: dict[int, list[tuple[int, float]]] = {}
        for x, label in enumerate(arms):
            summary = metrics.ap50[label][key]
            for seed, value in zip(summary["seeds"], summary["values"]):
                by_seed.setdefault(seed, []).append((x, value))
            ax.errorbar(x + 0.15, summary["mean"], yerr=summary["std"] or 0.0, fmt="o", c="k", capsize=3, ms=4)
        for i, (seed, points) in enumerate(sorted(by_seed.items())):
            xs, ys = zip(*points)
            ax.plot(xs, ys, marker=".", lw=0.8, alpha=0.8, c=colours(i % 10), label=f"seed {seed}")
        ax.axhline(reference["mean"], ls="--", c="grey", lw=1, label=f"all {metrics.full_data.images} images")
        ax.set_xticks(range(len(arms)), [a.replace("_", "\n", 1) for a in arms], fontsize=7)
        ax.set(ylabel="test AP50", title=f"{budget} images")
    axes[0][0].legend(fontsize=7)
    steps = sorted(set(metrics.schedule.steps.values()))
    fig.suptitle(
        f"csod: YOLOv8n per subset ({'/'.join(map(str, steps))} optimiser steps; the full-pool detectors get "
        f"{metrics.schedule.feature_detector_steps}), {n_seeds} whole-chain seeds (black: mean ± sd); "
        f"test split of {metrics.test_split.images} images",
        fontsize=8,
    )
    fig.tight_layout()
    return fig


def lambda_sweep_figure(metrics: CsodMetrics, reduction: str) -> plt.Figure:
    """CSOD's AP50 against lambda, with random and class-balanced random at the same budget."""
    fig, ax = plt.subplots(figsize=(5.4, 3.6))
    for key, entry in metrics.lambda_sweep.items():
        values = entry["lambdas"]
        labels = [f"csod_{lam_label(v)}" for v in values]
        points = [(v, metrics.ap50[lab][key]) for v, lab in zip(values, labels) if key in metrics.ap50.get(lab, {})]
        if not points:
            continue
        x = np.arange(len(points))
        ax.errorbar(
            x,
            [s["mean"] for _, s in points],
            yerr=[s["std"] or 0.0 for _, s in points],
            marker="o",
            capsize=3,
            label=f"CSOD, {_budget(key)} images",
        )
        ax.set_xticks(x, [f"{v:g}" for v, _ in points])
        for label, style in (("random", "--"), ("balanced_random", ":")):
            if key in metrics.ap50.get(label, {}):
                ax.axhline(metrics.ap50[label][key]["mean"], ls=style, c="grey", lw=1, label=f"{label}, {_budget(key)}")
    ax.set(xlabel="λ (diversity weight)", ylabel="test AP50")
    ax.legend(fontsize=7)
    ax.set_title(f"CSOD λ sweep ({reduction} reduction), mean ± sd over seeds", fontsize=9)
    fig.tight_layout()
    return fig


def selected_images_figure(
    chosen: dict[str, list[str]], records: dict[str, VocRecord], class_names: Sequence[str], title: str, n: int = 8
) -> plt.Figure:
    """The first ``n`` images each method picked (rows), with their ground-truth boxes."""
    labels = list(chosen)
    cols = max(1, min(n, max((len(v) for v in chosen.values()), default=1)))
    fig, axes = plt.subplots(len(labels), cols, figsize=(1.5 * cols, 1.6 * len(labels)), squeeze=False)
    colours = plt.get_cmap("tab10")
    for row, label in enumerate(labels):
        for col in range(cols):
            ax = axes[row, col]
            ax.set_axis_off()
            if col >= len(chosen[label]):
                continue
            record = records[chosen[label][col]]
            ax.imshow(load_image(record.image_path))
            for obj in record.objects:
                x0, y0, x1, y1 = obj.box
                colour = colours(list(class_names).index(obj.name) % 10)
                ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, lw=1, ec=colour))
            if col == 0:
                ax.text(-0.08, 0.5, label, transform=ax.transAxes, ha="right", va="center", fontsize=8)
    handles = [Rectangle((0, 0), 1, 1, fill=False, ec=colours(i % 10)) for i in range(len(class_names))]
    fig.legend(handles, list(class_names), loc="lower center", ncol=len(handles), fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0.06, 0.05, 1, 0.95))
    return fig


def first_picks(
    subsets: Sequence[Mapping[str, Any]], methods: Sequence[str], budget: int, seed: int, n: int = 8
) -> dict[str, list[str]]:
    """The first ``n`` image ids each method picked at ``budget`` on ``seed`` (rows of csod's subsets.json)."""
    return {
        s["label"]: s["image_ids"][:n]
        for s in subsets
        if s["budget"] == budget and s["seed"] == seed and s["label"] in methods
    }
