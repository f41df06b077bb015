"""Pictures of the distillation pipelines: image grids per class, accuracy bars, loss curves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch

from revis.datasets.named import Splits
from revis.distill.partial import METHODS
from revis.reporting.grids import class_mosaic


@dataclass
class Panel:
    """One mosaic: ``images`` in [0, 1] pixels, one row per class."""

    title: str
    images: torch.Tensor
    labels: torch.Tensor
    num_classes: int
    per_class: int


def mosaic_figure(rows: Sequence[Sequence[Panel]], title: str) -> plt.Figure:
    """A grid of class mosaics (one figure row per list of panels)."""
    columns = max(len(row) for row in rows)
    fig, axes = plt.subplots(len(rows), columns, figsize=(2.6 * columns, 2.9 * len(rows)), squeeze=False)
    for axes_row, panels in zip(axes, rows):
        for ax, panel in zip(axes_row, panels):
            mosaic = class_mosaic(panel.images, panel.labels, panel.num_classes, panel.per_class)
            ax.imshow(mosaic, interpolation="nearest")
            ax.set_title(panel.title, fontsize=7)
        for ax in axes_row:
            ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def accuracy_bars_figure(
    tables: dict[str, dict[str, dict[str, dict]]], chance: dict[str, float], title: str, ylabel: str = "test accuracy"
) -> plt.Figure:
    """Per panel (dataset): groups (x ticks) x methods (bars), each a mean_std summary; a chance line."""
    fig, axes = plt.subplots(1, len(tables), figsize=(6.5 * len(tables), 3.8), squeeze=False)
    for ax, (name, groups) in zip(axes[0], tables.items()):
        methods = list(dict.fromkeys(m for by_method in groups.values() for m in by_method))
        at = np.arange(len(groups))
        width = 0.8 / max(1, len(methods))
        for j, method in enumerate(methods):
            means = [groups[g][method]["mean"] if method in groups[g] else np.nan for g in groups]
            sds = [(groups[g][method]["std"] or 0.0) if method in groups[g] else 0.0 for g in groups]
            ax.bar(at + (j - len(methods) / 2 + 0.5) * width, means, width, yerr=sds, label=method, capsize=2)
        ax.axhline(chance[name], color="grey", ls=":", lw=1, label="chance")
        ax.set(xticks=at, xticklabels=list(groups), ylabel=ylabel, title=name)
        ax.tick_params(axis="x", labelsize=7)
        ax.legend(fontsize=6, ncol=3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _smooth(values: Sequence[float], window: int) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if len(array) < window or window <= 1:
        return array
    kernel = np.ones(window) / window
    return np.convolve(array, kernel, mode="valid")


def curves_figure(
    panels: dict[str, dict[str, Sequence[float]]],
    title: str,
    xlabel: str,
    ylabel: str,
    smooth: int = 1,
    log: bool = False,
) -> plt.Figure:
    """One panel per key; each curve a named sequence (a moving average of ``smooth`` steps, the raw curve faint)."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.8 * len(panels), 3.4), squeeze=False)
    for ax, (name, curves) in zip(axes[0], panels.items()):
        for label, values in curves.items():
            line = ax.plot(_smooth(values, smooth), label=label, lw=1.2)[0]
            if smooth > 1:
                ax.plot(values, color=line.get_color(), alpha=0.2, lw=0.6)
        ax.set(title=name, xlabel=xlabel, ylabel=ylabel)
        if log:
            ax.set_yscale("log")
        ax.legend(fontsize=6)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


@dataclass(frozen=True)
class PartialPictures:
    """What dkkt draws of one dataset: its first seed's sets and DM curves, its accuracy bars."""

    grid_row: list[Panel] | None
    curves: dict[str, Sequence[float]] | None
    bars: dict[str, dict[str, dict]]


def partial_pictures(
    name: str, splits: Splits, first: dict[str, Any], keys: Sequence[str], methods: dict[str, dict]
) -> PartialPictures:
    """The first seed's sets at the smallest fraction (``keys[0]``), its DM loss curves, and the bars per
    ``<fraction>/<ipc>`` of ``methods`` (method -> fraction -> ipc -> summary)."""
    row, curves = None, None
    if keys:
        key = keys[0]
        sets = first["sets"][key]
        ipc = int(key.split("/")[1])
        row = [
            Panel(
                f"{name} {key.replace('/', ', ipc ')}: {m}",
                splits.to_pixels(sets[m]["images"]),
                sets[m]["labels"],
                splits.num_classes,
                2 * ipc,
            )
            for m in ("random", "dm", "dm_dkkt", "dsv", "union", "dm_x2")
        ]
        curves = {f"{m} {k}": first["histories"][k][m]["dm"] for k in keys for m in ("dm", "dm_dkkt")}
    bars = {
        k.replace("/", "\n") + " ipc": {
            m: methods[m][k.split("/")[0]][k.split("/")[1]] for m in METHODS if m in methods
        }
        for k in keys
    }
    return PartialPictures(row, curves, bars)


def partial_figures(
    pictures: dict[str, PartialPictures], first_seeds: dict[str, int], chance: dict[str, float]
) -> tuple[plt.Figure, plt.Figure, plt.Figure]:
    """dkkt's three figures: distilled sets, accuracy bars, DM loss curves."""
    rows = [p.grid_row for p in pictures.values() if p.grid_row is not None]
    curves = {f"{name}, seed {first_seeds[name]}": p.curves for name, p in pictures.items() if p.curves is not None}
    return (
        mosaic_figure(rows, "Distilled sets per class (rows) from the smallest visible fraction, first seed"),
        accuracy_bars_figure(
            {name: p.bars for name, p in pictures.items()},
            chance,
            "Distillation from partial data: test accuracy (mean ± sd over whole-chain seeds)",
        ),
        curves_figure(
            curves,
            "DM loss per iteration (a fresh network each iteration; moving average)",
            "iteration",
            "DM loss",
            smooth=10,
            log=True,
        ),
    )
