"""Pictures and statistics of the mini world, drawn from what was read back from disk."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from revis.datasets.images import load_image
from revis.datasets.imageset import ImageSet
from revis.datasets.voc import VocData, VocObject


@dataclass
class _Scene:
    image_id: str
    pixels: Any  # an array, or the path of the image file
    objects: list[VocObject]

    def image(self) -> np.ndarray:
        return self.pixels if isinstance(self.pixels, np.ndarray) else load_image(self.pixels)


def scenes_of(detection: VocData, split: str) -> list[_Scene]:
    """A split's scenes, from records read back from disk or from the scenes in memory (before writing)."""
    if detection.records:
        return [_Scene(r.image_id, r.image_path, r.objects) for r in detection.split(split)]
    by_id = {s.image_id: s for s in detection.scenes or []}
    return [_Scene(i, by_id[i].image, by_id[i].objects) for i in detection.split_ids[split]]


def shapes_samples_figure(data: ImageSet, n: int = 6) -> plt.Figure:
    """One row per sample: the image, then each concept's ground-truth mask over it."""
    k = len(data.concept_names)
    fig, axes = plt.subplots(n, k + 1, figsize=(1.3 * (k + 1), 1.4 * n))
    picks = [int(np.flatnonzero(data.labels == c % data.num_classes)[c // data.num_classes]) for c in range(n)]
    for row, index in enumerate(picks):
        image = data.images[index]
        axes[row, 0].imshow(image)
        axes[row, 0].set_title(data.class_names[data.labels[index]], fontsize=7)
        for col in range(k):
            overlay = image.astype(float) / 255 * 0.35
            if data.concept_masks is not None:
                overlay[data.concept_masks[index, col]] = [1.0, 0.85, 0.1]
            axes[row, col + 1].imshow(overlay)
            if row == 0:
                axes[row, col + 1].set_title(data.concept_names[col], fontsize=7)
    for ax in axes.ravel():
        ax.set_axis_off()
    fig.suptitle("shapes world: samples and per-concept ground-truth masks", fontsize=9)
    return fig


def detection_samples_figure(records: list[_Scene], n: int = 8) -> plt.Figure:
    cols = 4
    rows = (min(n, len(records)) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False)
    colours = plt.get_cmap("tab10")
    names = sorted({o.name for r in records for o in r.objects})
    for ax, record in zip(axes.ravel(), records[:n]):
        ax.imshow(record.image())
        for obj in record.objects:
            x0, y0, x1, y1 = obj.box
            colour = colours(names.index(obj.name) % 10)
            ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, lw=1.5, ec=colour))
            ax.text(x0, y0 - 1, obj.name, color=colour, fontsize=7, va="bottom")
        ax.set_title(record.image_id, fontsize=8)
    for ax in axes.ravel():
        ax.set_axis_off()
    fig.suptitle("detection world: scenes and boxes read back from the VOC layout", fontsize=10)
    return fig
