"""Pictures of the Deep-KKT results: Σλ per class against class accuracy, with the largest-λ real images."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

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
