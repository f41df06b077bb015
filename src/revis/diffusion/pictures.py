"""Pictures of text-to-image models: sample grids with their prompts, training curves."""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np


def sample_grid(
    rows: list[tuple[str, np.ndarray]], title: str, reference: list[np.ndarray | None] | None = None, width: float = 0.9
) -> plt.Figure:
    """One row per prompt: its label, then its images (uint8 (K, H, W, 3)); optionally a reference image first."""
    n_cols = max(len(images) for _, images in rows) + (1 if reference else 0)
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(width * n_cols + 2.6, width * len(rows) + 0.6), squeeze=False)
    for r, (label, images) in enumerate(rows):
        offset = 0
        if reference:
            if reference[r] is not None:
                axes[r, 0].imshow(reference[r], interpolation="nearest")
                axes[r, 0].set_title("real", fontsize=6) if r == 0 else None
            offset = 1
        for c, image in enumerate(images):
            axes[r, c + offset].imshow(image, interpolation="nearest")
        axes[r, 0].text(
            -0.15,
            0.5,
            "\n".join(textwrap.wrap(label, 34)),
            transform=axes[r, 0].transAxes,
            ha="right",
            va="center",
            fontsize=6,
        )
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    fig.suptitle(title, fontsize=8)
    fig.subplots_adjust(left=2.4 / (width * n_cols + 2.6), wspace=0.05, hspace=0.1)
    return fig


def loss_curve(losses: list[float], title: str, window: int = 20) -> plt.Figure:
    """Training loss per step with a moving average."""
    fig, ax = plt.subplots(figsize=(4.5, 2.8))
    steps = np.arange(1, len(losses) + 1)
    ax.plot(steps, losses, lw=0.5, alpha=0.4, label="per step")
    if len(losses) >= window:
        smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1 :], smooth, lw=1.5, label=f"mean of {window}")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("min-SNR weighted loss")
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
