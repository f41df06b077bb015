"""Pictures of training runs."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt


def training_curves_figure(histories: dict[str, dict[str, Any]], title: str) -> plt.Figure:
    """Loss (log scale) and accuracy per epoch, one line per run."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.2))
    for run, history in sorted(histories.items()):
        ax_loss.plot(range(1, len(history["loss"]) + 1), history["loss"], label=run, lw=1)
        ax_acc.plot(range(1, len(history["accuracy"]) + 1), history["accuracy"], label=run, lw=1)
    ax_loss.set(xlabel="epoch", ylabel="train loss", yscale="log")
    ax_acc.set(xlabel="epoch", ylabel="train accuracy")
    ax_acc.legend(fontsize=6, ncol=2)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
