"""Pictures of whitebear: attack-success bars with intervals, the similarity heat map, cross-attention maps."""

from __future__ import annotations

import textwrap
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import to_hex

from revis.diffusion.pictures import sample_grid

KIND_LABELS = {
    "base": "base\n(word alone)",
    "attack": "attack\n(without X)",
    "define": "D1\n(defined)",
    "alternative": "D2\n(alternative)",
    "negative_prompt": "negative\nprompt X",
    "with": "with X\n(control)",
    "other_negation": "without Y\n(control)",
}


def _bar(ax: Any, x: float, summary: dict[str, Any], colour: str, width: float, label: str | None = None) -> None:
    rate, (low, high) = summary["rate"], summary["ci95"]
    ax.bar(x, rate, width, color=colour, label=label)
    ax.errorbar(x, rate, yerr=[[rate - low], [high - rate]], color="black", capsize=3, lw=1)


def attack_bars(
    rates: dict[str, dict[str, Any]],
    per_pair: dict[str, dict[str, dict[str, Any]]],
    ablation: dict[str, dict[str, dict[str, Any]]],
    judge_note: str,
) -> plt.Figure:
    """Left: share of images with the prohibited object per prompt kind (pooled, and per pair); right: the ablation."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [3, 1.3]})
    kinds = [k for k in KIND_LABELS if k in rates]
    pairs = list(per_pair)
    width = 0.8 / (1 + len(pairs))
    tab10 = plt.get_cmap("tab10")
    colours = [to_hex(tab10(i)) for i in range(10)]
    for i, kind in enumerate(kinds):
        _bar(left, i - 0.4 + width / 2, rates[kind], "0.35", width, "all pairs" if i == 0 else None)
        for j, pair in enumerate(pairs):
            _bar(left, i - 0.4 + width * (j + 1.5), per_pair[pair][kind], colours[j], width, pair if i == 0 else None)
    left.set_xticks(range(len(kinds)), [KIND_LABELS[k] for k in kinds], fontsize=7)
    left.set_ylabel("images with the prohibited object X")
    left.set_ylim(0, 1)
    left.legend(fontsize=6, loc="upper right")
    left.set_title("attack success and defenses (Wilson 95 % intervals)", fontsize=8)
    arms = list(ablation)
    for i, arm in enumerate(arms):
        for j, kind in enumerate(ablation[arm]):
            _bar(right, i + (j - 0.5) * 0.35, ablation[arm][kind], colours[j + 4], 0.35, kind if i == 0 else None)
    right.set_xticks(range(len(arms)), [f"fine-tuned\n{a}" for a in arms], fontsize=7)
    right.set_ylim(0, 1)
    right.legend(fontsize=6)
    right.set_title("ablation: negation in training captions", fontsize=8)
    fig.suptitle("\n".join(textwrap.wrap(judge_note, 150)), fontsize=7)
    fig.tight_layout()
    return fig


def similarity_heatmap(table: dict[str, Any]) -> plt.Figure:
    """cos(without X, with X) - cos(without X, scene) per scene x object (mean over negation templates), and per-token."""
    pooled = np.asarray(table["pooled_with"]) - np.asarray(table["pooled_alone"])
    token = np.asarray(table["token_same"]) - np.asarray(table["token_context"])
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.45 * len(table["scenes"]) + 2.4))
    for ax, values, title in (
        (axes[0], pooled.mean(2), "pooled: cos(S without X, S with X) - cos(S without X, S)"),
        (
            axes[1],
            token.mean(2),
            "X's tokens: cos(X | S without X, X | S with X) - cos(X | S without X, X | S' with X)",
        ),
    ):
        limit = float(np.abs(values).max()) or 1.0
        image = ax.imshow(values, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
        ax.set_yticks(range(len(table["scenes"])), table["scenes"], fontsize=7)
        ax.set_xticks(range(len(table["objects"])), table["objects"], rotation=60, ha="right", fontsize=7)
        for (r, c), v in np.ndenumerate(values):
            ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=5)
        ax.set_title(title, fontsize=7)
        fig.colorbar(image, ax=ax, fraction=0.03)
    fig.suptitle(
        "MiniLM text encoder: > 0 means the negated sentence (or token) stays with the affirmed one", fontsize=8
    )
    fig.tight_layout()
    return fig


def attention_figure(panels: list[dict[str, Any]]) -> plt.Figure:
    """Per attack prompt: images, then the cross-attention of each named token group over them."""
    rows = sum(len(p["images"]) for p in panels)
    cols = 1 + max(len(p["maps"]) for p in panels)
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.35 * rows), squeeze=False)
    r = 0
    for panel in panels:
        for i, image in enumerate(panel["images"]):
            axes[r, 0].imshow(image, interpolation="nearest")
            if i == 0:
                axes[r, 0].set_title("\n".join(textwrap.wrap(panel["prompt"], 22)), fontsize=5)
            for c, (name, maps) in enumerate(panel["maps"].items(), start=1):
                axes[r, c].imshow(maps[i], cmap="magma", interpolation="bilinear")
                if i == 0:
                    axes[r, c].set_title(name, fontsize=6)
            r += 1
    for ax in axes.ravel():
        ax.set_axis_off()
    fig.suptitle("cross-attention of the attack prompt's tokens (conditional branch, all layers and steps)", fontsize=7)
    fig.tight_layout()
    return fig


def judge_note(judge: dict[str, Any]) -> str:
    """One line on the judge's held-out accuracy, for the attack figure."""
    return (
        f"judge on held-out real scenes: exact object sets {judge['clean']['exact_set_accuracy']:.2f}, "
        f"labels {judge['clean']['label_accuracy']:.3f} (degraded: {judge['degraded']['exact_set_accuracy']:.2f}); "
        + ", ".join(
            f"{o}: recall {v['recall']:.2f} precision {v['precision']:.2f}" for o, v in judge["objects"].items()
        )
    )


def samples_per_kind(
    grid: dict[str, dict[str, np.ndarray]], prompts: dict[str, dict[str, dict[str, Any]]], kinds: list[str]
) -> plt.Figure:
    """The sample grid: per pair and prompt kind, the kind, its prompt (and negative prompt) and its first images."""
    rows = [
        (
            f"{KIND_LABELS[kind].splitlines()[0]}: {prompts[pair][kind]['text']}"
            + (f"  [negative: {prompts[pair][kind]['negative']}]" if prompts[pair][kind]["negative"] else ""),
            grid[pair][kind],
        )
        for pair in grid
        for kind in kinds
    ]
    return sample_grid(rows, "whitebear samples per prompt kind (seed 0)")
