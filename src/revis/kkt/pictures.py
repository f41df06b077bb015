"""Pictures of the Deep-KKT results (dsv): Σλ per class against class accuracy with the largest-λ real images,
DSV grids, synthesis curves, retraining accuracies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import torch

from revis.datasets.named import Splits
from revis.distill.pictures import Panel, accuracy_bars_figure, curves_figure, mosaic_figure
from revis.kkt.real import top_lambda_per_class
from revis.reporting.grids import class_mosaic


def lambda_figure(per_dataset: dict[str, dict]) -> plt.Figure:
    """Per dataset: Σλ per class vs the teacher's class accuracy (one seed), and the top-λ real images.

    ``per_dataset[name]``: ``lambda_sum`` and ``class_accuracy`` (lists over classes), ``rho``,
    ``top_images`` (pixels in [0, 1]), ``top_labels``, ``num_classes``, ``per_class``.
    """
    names = list(per_dataset)
    fig, axes = plt.subplots(2, len(names), figsize=(4.8 * len(names), 6.4), squeeze=False)
    for column, name in enumerate(names):
        entry = per_dataset[name]
        ax = axes[0][column]
        ax.scatter(entry["lambda_sum"], entry["class_accuracy"], s=18)
        for c, (a, b) in enumerate(zip(entry["lambda_sum"], entry["class_accuracy"])):
            ax.annotate(str(c), (a, b), fontsize=7)
        rho = entry["rho"]
        ax.set(
            title=f"{name}: Σλ per class vs teacher class accuracy (Spearman {'n/a' if rho is None else f'{rho:.3f}'})",
            xlabel="Σλ of the class",
            ylabel="test accuracy of the class",
        )
        ax.title.set_fontsize(8)
        mosaic = class_mosaic(
            torch.as_tensor(entry["top_images"]),
            torch.as_tensor(entry["top_labels"]),
            entry["num_classes"],
            entry["per_class"],
        )
        axes[1][column].imshow(mosaic, interpolation="nearest")
        axes[1][column].set_title(f"{name}: real images with the largest λ per class", fontsize=8)
        axes[1][column].axis("off")
    fig.tight_layout()
    return fig


@dataclass(frozen=True)
class DSVPictures:
    """What dsv draws of one dataset: the λ panel, the DSV grid row, the synthesis curves, the retraining bars."""

    lambda_panel: dict[str, Any]
    grid_row: list[Panel]
    curves: dict[str, dict[str, Sequence[float]]]
    bars: dict[str, dict[str, dict]]


def lambda_panel(
    splits: Splits, lambda_sum: list[float], class_accuracy: list[float], rho: float | None, fit: dict[str, Any]
) -> dict[str, Any]:
    """``lambda_figure``'s panel of one dataset (its first seed): Σλ vs class accuracy, the top-λ real images
    (``fit``: the seed's λ fit of the training split, ``{lam, labels, ...}``)."""
    top = top_lambda_per_class(fit["lam"], fit["labels"], 8)
    return {
        "lambda_sum": lambda_sum,
        "class_accuracy": class_accuracy,
        "rho": rho,
        "top_images": splits.to_pixels(splits.x_train[top]),
        "top_labels": splits.y_train[top],
        "num_classes": splits.num_classes,
        "per_class": 8,
    }


def dsv_grid_row(name: str, splits: Splits, first: dict[str, Any]) -> list[Panel]:
    """The first seed's sets at the largest ipc: the real shots, few-shot, 0-shot and primal-only DSVs."""
    k = splits.num_classes
    ipc = max(int(key.split("/")[1]) for key in first)
    row = []
    for key in (f"few_shot/{ipc}", f"zero_shot/{ipc}", f"few_shot_primal/{ipc}", f"zero_shot_primal/{ipc}"):
        if key not in first:
            continue
        entry = first[key]
        if key.startswith("few_shot/"):
            shots = splits.to_pixels(entry["initial"])
            row.append(Panel(f"{name}: real shots", shots, entry["initial_labels"], k, min(ipc, 10)))
        title = f"{name}: {key.replace('/', ', ipc ')}"
        row.append(Panel(title, splits.to_pixels(entry["images"]), entry["labels"], k, min(ipc, 10)))
    return row


def synthesis_curves(name: str, first: dict[str, Any]) -> dict[str, dict[str, Sequence[float]]]:
    """The first seed's entropy and stationarity curves of every synthesis."""
    return {
        f"{name}: {'entropy (nats)' if kind == 'entropy' else 'stationarity ratio'}": {
            key: entry["history"][kind] for key, entry in sorted(first.items())
        }
        for kind in ("entropy", "stat")
    }


def retrain_bars(sets: dict[str, dict[str, dict]]) -> dict[str, dict[str, dict]]:
    """``kind -> size -> summary`` into ``size -> kind -> summary`` (sizes ascending), for the bars."""
    sizes = sorted({s for by in sets.values() for s in by}, key=int)
    return {size: {kind: sets[kind][size] for kind in sets if size in sets[kind]} for size in sizes}


def dsv_figures(
    pictures: dict[str, DSVPictures], chance: dict[str, float]
) -> tuple[plt.Figure, plt.Figure, plt.Figure, plt.Figure]:
    """dsv's four figures: DSV grids, synthesis curves, λ per class, retraining accuracies."""
    curves = {title: panel for p in pictures.values() for title, panel in p.curves.items()}
    return (
        mosaic_figure(
            [p.grid_row for p in pictures.values()],
            "Deep Support Vectors per class (rows), first seed: the real shots, few-shot and 0-shot DSVs, primal-only",
        ),
        curves_figure(
            curves,
            "DSV synthesis, first seed: entropy (paper: rises, ≈0.2 → ≈1.0) and stationarity ratio",
            "step",
            "value",
        ),
        lambda_figure({name: p.lambda_panel for name, p in pictures.items()}),
        accuracy_bars_figure(
            {name: p.bars for name, p in pictures.items()},
            chance,
            "Retraining on each set (mean ± sd over whole-chain seeds), per images per class",
        ),
    )
