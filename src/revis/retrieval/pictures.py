"""Pictures of interactive retrieval: recall vs round per condition, and one worked example."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

if TYPE_CHECKING:
    from revis.retrieval.metrics import ZeroShotMetrics


def recall_figure(curves: dict[str, dict[str, Any]], rounds: int, chance: dict[str, float], title: str) -> plt.Figure:
    """R@1 and R@10 (mean +- sd over seeds) against the round, one line per condition."""
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    xs = list(range(rounds + 1))
    for ax, measure in zip(axes, ("r1", "r10")):
        for name, per_round in curves.items():
            means = [per_round[f"round{r}"][measure]["mean"] for r in xs]
            sds = [per_round[f"round{r}"][measure].get("std") or 0.0 for r in xs]
            style = "--" if name.startswith("control") else "-"
            ax.errorbar(xs, means, yerr=sds, label=name, linestyle=style, marker="o", markersize=3, capsize=2)
        ax.axhline(chance[measure], color="grey", linewidth=0.8, linestyle=":", label="chance")
        ax.set_xlabel("round")
        ax.set_ylabel(f"R@{measure[1:]} (%)")
        ax.set_xticks(xs)
    axes[1].legend(fontsize=7, loc="upper left")
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure


def example_figure(example: dict[str, Any] | None) -> plt.Figure:
    """The worked example as text: query, then per round the anchor, question, answer and the target's rank."""
    figure = plt.figure(figsize=(11, 7))
    ax = figure.add_axes((0, 0, 1, 1))
    ax.axis("off")
    if not example:
        ax.text(0.5, 0.5, "no interactive rounds at this scale", ha="center")
        return figure
    lines = [f"query: {example['query']}   (target {example['target']}; {example.get('chosen', '')})", ""]
    lines.append(f"round 0: target rank {example['ranks'][0]}")
    for r, turn in enumerate(example["turns"], start=1):
        lines += textwrap.wrap(f"  anchor: {turn['anchor']}", 150)
        lines += textwrap.wrap(f"  Q{r}: {turn['question']}", 150)
        lines += textwrap.wrap(f"  A{r}: {turn['answer']}", 150)
        rank = example["ranks"][r] if r < len(example["ranks"]) else "?"
        lines.append(f"round {r}: target rank {rank}")
    ax.text(0.01, 0.99, "\n".join(lines), va="top", family="monospace", fontsize=7.5)
    return figure


def zero_shot_figure(metrics: ZeroShotMetrics) -> plt.Figure:
    """:func:`recall_figure` of round 0 alone (a real benchmark's ``ZeroShotMetrics``)."""
    curves = {"zero_shot": {"round0": {m: {"mean": v} for m, v in metrics.zero_shot.items()}}}
    return recall_figure(curves, 0, metrics.chance, metrics.scale)
