"""Pictures of text-to-image models: sample grids with their prompts, training curves."""

from __future__ import annotations

import textwrap
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from revis.diffusion.generate import generate
from revis.world.captions import ABSTRACT_WORDS, CaptionRecord


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


def t2i_samples(
    model: Any,
    records: list[CaptionRecord],
    test: Any,
    *,
    rows: int,
    images_per_row: int,
    seed: int,
    steps: int,
    guidance_scale: float,
    batch_size: int,
) -> plt.Figure:
    """Rows: each abstract word alone, then held-out captions (with their real image first); columns: samples."""
    words = [f"a {w} scene" for w in ABSTRACT_WORDS]
    described = [r for r in records if r.form != "abstract"][: max(0, rows - len(words))]
    prompts = words + [r.caption for r in described]
    images = generate(
        model,
        prompts,
        seed=seed,
        images_per_prompt=images_per_row,
        steps=steps,
        guidance_scale=guidance_scale,
        batch_size=batch_size,
    )
    k = images_per_row
    grid = [(p, images[i * k : (i + 1) * k]) for i, p in enumerate(prompts)]
    keys = {r.key: i for i, r in enumerate(test.records)}
    reference: list[np.ndarray | None] = [None] * len(words)
    reference += [test.images[keys[r.key]] for r in described]
    return sample_grid(
        grid, "t2i samples: abstract words alone, then held-out captions (first column: the real scene)", reference
    )
