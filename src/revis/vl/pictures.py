"""Pictures of the vision-language encoder: a frame x text similarity matrix, pretraining curves."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

if TYPE_CHECKING:
    from revis.vl.encoder import DualEncoder
    from revis.vl.pairs import FrameTextPairs


def similarity_figure(frames: np.ndarray, texts: Sequence[str], similarity: np.ndarray, title: str) -> plt.Figure:
    """Cosine similarity of n frames (rows, shown on the left) with their n texts (columns, same order)."""
    n = len(texts)
    fig = plt.figure(figsize=(0.45 * n + 4.5, 0.45 * n + 3.5))
    grid = fig.add_gridspec(1, 2, width_ratios=[1, n], wspace=0.02)
    thumbs = fig.add_subplot(grid[0, 0])
    thumbs.imshow(np.concatenate(list(frames), axis=0), interpolation="nearest", aspect="auto")
    thumbs.set_axis_off()
    axis = fig.add_subplot(grid[0, 1])
    image = axis.imshow(similarity, cmap="viridis", aspect="auto")
    axis.set_xticks(range(n))
    axis.set_xticklabels([textwrap.shorten(t, 60, placeholder="...") for t in texts], rotation=90, fontsize=7)
    axis.set_yticks([])
    best = similarity.argmax(1)
    axis.scatter(best, range(n), marker="o", facecolors="none", edgecolors="red", s=30, label="best text per frame")
    axis.legend(loc="upper right", fontsize=7)
    fig.colorbar(image, ax=axis, fraction=0.03, label="cosine")
    fig.suptitle(title, fontsize=10)
    return fig


def pretraining_figure(histories: dict[str, dict[str, list[float]]], title: str) -> plt.Figure:
    """InfoNCE loss and learned temperature per seed over steps."""
    fig, (loss_axis, temp_axis) = plt.subplots(1, 2, figsize=(10, 3.5))
    for name, history in histories.items():
        loss_axis.plot(history["loss"], label=name, lw=1)
        temp_axis.plot(history["temperature"], label=name, lw=1)
    loss_axis.set(xlabel="step", ylabel="symmetric InfoNCE", title="loss")
    temp_axis.set(xlabel="step", ylabel="temperature", title="learned temperature")
    if histories:
        loss_axis.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def zero_shot_matrix_figure(encoder: DualEncoder, pairs: FrameTextPairs, size: int, where: str) -> plt.Figure:
    """Similarity of one frame per distinct content with each content's text (the first ``size`` contents)."""
    first: dict[str, int] = {}
    for index, key in enumerate(pairs.keys):
        first.setdefault(key, index)
    chosen = list(first.values())[:size]
    frames = pairs.frames[chosen]
    texts = [pairs.texts[i] for i in chosen]
    similarity = (encoder.embed_images(frames) @ encoder.embed_texts(texts).T).numpy()
    return similarity_figure(frames, texts, similarity, f"vl zero-shot: frames x their descriptions ({where})")
