"""Pictures of highlight detection: video strips with saliency and scores, mAP vs the pooling window."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from revis.datasets.qvhighlights import QvhQuery


def _unit(values: np.ndarray) -> np.ndarray:
    span = values.max() - values.min()
    return (values - values.min()) / span if span > 0 else np.zeros_like(values)


def strips_figure(
    queries: Sequence[QvhQuery],
    frames: Mapping[str, np.ndarray],
    curves: Mapping[str, Mapping[int, Sequence[float] | np.ndarray]],
    title: str,
    max_clips: int = 40,
) -> plt.Figure:
    """Per query: the frames, the annotators' mean saliency (bars) and each named score curve (min-max scaled)."""
    fig, axes = plt.subplots(2 * len(queries), 1, figsize=(14, 2.6 * len(queries)), squeeze=False)
    styles = ["-", "--", ":", "-."]
    for row, query in enumerate(queries):
        clips = min(query.num_clips(), max_clips)
        strip_axis, plot_axis = axes[2 * row, 0], axes[2 * row + 1, 0]
        strip_axis.imshow(np.concatenate(list(frames[query.vid][:clips]), axis=1), interpolation="nearest")
        strip_axis.set_axis_off()
        strip_axis.set_title(f"qid {query.qid}: \u201c{query.query}\u201d", fontsize=9, loc="left")
        x = np.arange(clips)
        plot_axis.bar(
            x, query.saliency().mean(1)[:clips] / 4, color="tab:orange", alpha=0.5, width=0.9, label="ground truth / 4"
        )
        for (name, by_qid), style in zip(curves.items(), styles):
            plot_axis.plot(x, _unit(np.asarray(by_qid[query.qid], dtype=float))[:clips], style, lw=1.4, label=name)
        plot_axis.set_xlim(-0.5, clips - 0.5)
        plot_axis.set_ylim(0, 1.05)
        plot_axis.tick_params(labelsize=7)
        if row == 0:
            plot_axis.legend(fontsize=7, ncol=len(curves) + 1, loc="upper right")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def pooling_figure(by_arm: Mapping[str, Mapping[int, Sequence[float]]], metric: str, title: str) -> plt.Figure:
    """``by_arm[arm][w]`` = per-seed values: mean ± sd against the pooling window w."""
    fig, axis = plt.subplots(figsize=(6, 4))
    for arm, by_w in by_arm.items():
        windows = sorted(by_w)
        means = [float(np.mean(by_w[w])) for w in windows]
        sds = [float(np.std(by_w[w], ddof=1)) if len(by_w[w]) > 1 else 0.0 for w in windows]
        axis.errorbar(windows, means, yerr=sds, marker="o", capsize=3, label=arm)
    axis.set(xlabel="pooling window w (clips on each side)", ylabel=metric, title=title)
    axis.set_xticks(sorted({w for by_w in by_arm.values() for w in by_w}))
    axis.legend(fontsize=8)
    fig.tight_layout()
    return fig


def finetuning_figure(histories: Mapping[str, Sequence[float]], title: str) -> plt.Figure:
    """MSE per step of every fine-tuning run (``<arm>/seed<s>``), smoothed over 10 steps."""
    fig, axis = plt.subplots(figsize=(7, 4))
    for name, losses in histories.items():
        values = np.asarray(losses, dtype=float)
        window = min(10, len(values))
        smooth = np.convolve(values, np.ones(window) / window, mode="valid") if window else values
        axis.plot(np.arange(len(smooth)) + window - 1, smooth, lw=1, label=name)
    axis.set(xlabel="step", ylabel="MSE to normalised saliency", title=title)
    axis.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def first_seed_strips(
    shown: Sequence[QvhQuery],
    frames: Mapping[str, np.ndarray],
    runs: Mapping[str, Mapping[int, Mapping[str, Mapping[int, Sequence[float]]]]],
    tuned: str,
    first: int,
    w_star: int,
    title: str,
) -> plt.Figure:
    """:func:`strips_figure` of seed ``first``: zero-shot, the tuned arm, and the tuned arm pooled at ``w_star``."""
    from revis.highlights.pooling import pool_scores

    tuned_scores = runs[tuned][first]["eval"]
    curves: dict[str, Mapping[int, Sequence[float] | np.ndarray]] = {
        "zero-shot": runs["zeroshot"][first]["eval"],
        f"HL-CLIP {tuned}": tuned_scores,
        f"{tuned} pooled (w={w_star})": {
            q.qid: pool_scores(np.asarray(tuned_scores[q.qid], dtype=float), w_star) for q in shown
        },
    }
    return strips_figure(shown, frames, curves, title)
