"""orthoemb's pictures: reference | prompt | one output per arm; leakage vs identity per arm; attention maps."""

from __future__ import annotations

import textwrap
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

ARM_LABELS = {
    "text": "text only",
    "visual": "visual tokens",
    "full": "+ projection (full)",
    "mean": "+ projection (mean)",
    "swap": "+ swap",
    "both": "+ projection + swap",
}


def _clean(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def arms_grid(grid: dict[str, Any], arms: list[str]) -> plt.Figure:
    """Rows: cases; columns: the reference, then each arm's output for the prompt (written at the left)."""
    refs, prompts = grid["references"], grid["prompts"]
    n, cols = len(refs), 1 + len(arms)
    fig, axes = plt.subplots(n, cols, figsize=(0.95 * cols + 2.6, 0.95 * n + 0.8), squeeze=False)
    for r in range(n):
        axes[r, 0].imshow(refs[r], interpolation="nearest")
        axes[r, 0].text(
            -0.15,
            0.5,
            "\n".join(textwrap.wrap(prompts[r], 30)),
            transform=axes[r, 0].transAxes,
            ha="right",
            va="center",
            fontsize=6,
        )
        for c, name in enumerate(arms):
            axes[r, c + 1].imshow(grid[name][r], interpolation="nearest")
    for c, label in enumerate(["reference", *[ARM_LABELS[a] for a in arms]]):
        axes[0, c].set_title("\n".join(textwrap.wrap(label, 12)), fontsize=6)
    for ax in axes.ravel():
        _clean(ax)
    fig.suptitle("orthoemb: the prompt asks for the corner opposite the reference's (S* = the reference)", fontsize=8)
    fig.subplots_adjust(left=2.4 / (0.95 * cols + 2.6), wspace=0.05, hspace=0.12, top=0.86)
    return fig


def tradeoff_scatter(arms: dict[str, Any], order: list[str]) -> plt.Figure:
    """Pose leakage (x) against identity (y): one point per arm and seed, the arm's mean with +-1 sd bars."""
    fig, ax = plt.subplots(figsize=(4.8, 3.6))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, name in enumerate(order):
        leak, ident = arms[name]["leakage"], arms[name]["identity"]
        colour = colours[i % len(colours)]
        ax.scatter(leak["values"], ident["values"], s=14, alpha=0.5, color=colour)
        ax.errorbar(
            leak["mean"],
            ident["mean"],
            xerr=leak["std"] or 0,
            yerr=ident["std"] or 0,
            fmt="o",
            color=colour,
            ms=6,
            capsize=2,
            label=ARM_LABELS.get(name, name),
        )
    ax.set_xlabel("pose leakage (subject in the reference's corner)")
    ax.set_ylabel("identity (judge finds colour, shape, texture)")
    ax.set_title("orthoemb: leakage vs identity per arm (dots: seeds)", fontsize=8)
    ax.legend(fontsize=6, loc="best")
    fig.tight_layout()
    return fig


def attention_figure(attention: dict[str, Any]) -> plt.Figure:
    """Per case: the reference, then without / with the projection: the output and the visual tokens' attention."""
    refs, prompts = attention["references"], attention["prompts"]
    n = len(refs)
    fig, axes = plt.subplots(n, 5, figsize=(6.4, 1.3 * n + 0.6), squeeze=False)
    titles = ["reference", "no fix", "visual-token\nattention", "projection", "visual-token\nattention"]
    for r in range(n):
        axes[r, 0].imshow(refs[r], interpolation="nearest")
        axes[r, 0].set_ylabel("\n".join(textwrap.wrap(prompts[r], 22)), fontsize=5)
        for k, name in enumerate(("visual", "full")):
            axes[r, 1 + 2 * k].imshow(attention[name]["images"][r], interpolation="nearest")
            axes[r, 2 + 2 * k].imshow(np.asarray(attention[name]["visual_tokens"][r]), cmap="magma")
    for c, t in enumerate(titles):
        axes[0, c].set_title(t, fontsize=6)
    for ax in axes.ravel():
        _clean(ax)
    fig.suptitle("cross-attention of the visual tokens (summed over tokens, layers, steps)", fontsize=8)
    fig.tight_layout()
    return fig


def loss_curves(losses: dict[str, list[float]], window: int = 20) -> plt.Figure:
    """Subject-encoder training loss per seed (moving average)."""
    fig, ax = plt.subplots(figsize=(4.5, 2.8))
    for seed, values in losses.items():
        v = np.asarray(values)
        if len(v) >= window:
            v = np.convolve(v, np.ones(window) / window, mode="valid")
        ax.plot(v, lw=1, label=f"seed {seed}")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("min-SNR weighted loss")
    ax.set_title("subject encoder: denoising loss through the frozen t2i UNet", fontsize=8)
    ax.legend(fontsize=6)
    fig.tight_layout()
    return fig
