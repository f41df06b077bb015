"""The metrics of ``hlclip-evaluate``: HL mAP / HIT@1 per level, arm and pooling window, over seeds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from revis.datasets.qvhighlights import QvhQuery
from revis.highlights.comparison import compare_runs
from revis.highlights.runs import FinetunedModels, Run, Scores
from revis.reporting.summary import mean_std

Table = dict[str, dict[str, dict[str, Any]]]  # metric (map, hit1) -> arm -> w<k> | pooled -> mean_std


@dataclass(frozen=True)
class HlclipMetrics:
    """``reports/hlclip/metrics.json``: values in percent (the official evaluation), summaries over seeds."""

    fair: Table
    good: Table
    vg: Table
    best_w: dict[str, dict[str, Any]]  # arm -> w* chosen on the selection queries, per seed
    eval_best_w: dict[str, int]  # arm -> the window that would be best on the evaluation split (for reference)
    trainable_parameters: dict[str, Any]  # tuned arm -> {"trainable", "total", ...}
    final_mse: dict[str, dict[str, Any]]  # tuned arm -> mean of the last 20 steps' MSE, over seeds
    queries: dict[str, int]  # eval, select_w
    scale: str


def hlclip_metrics(
    runs: Mapping[str, Mapping[int, Mapping[str, Scores]]],
    eval_queries: Sequence[QvhQuery],
    select_queries: Sequence[QvhQuery],
    windows: Sequence[int],
    models: FinetunedModels,
    histories: Mapping[str, Sequence[float]],
    scale: str,
) -> HlclipMetrics:
    """Every arm compared at every window (``compare_runs``), the tuned arms' sizes and final losses."""
    compared = compare_runs(runs, eval_queries, select_queries, windows)
    seeds = models.seeds
    final_mse = {
        arm: mean_std([float(np.mean(histories[str(Run(arm, s))][-20:])) for s in seeds], seeds) for arm in models.arms
    }
    return HlclipMetrics(
        fair=compared["fair"],
        good=compared["good"],
        vg=compared["vg"],
        best_w=compared["best_w"],
        eval_best_w=compared["eval_best_w"],
        trainable_parameters=models.trainable,
        final_mse=final_mse,
        queries={"eval": len(eval_queries), "select_w": len(select_queries)},
        scale=scale,
    )


def first_chosen_window(metrics: HlclipMetrics, arm: str) -> int:
    """The pooling window w* chosen for ``arm`` on its first seed."""
    return round(metrics.best_w[arm]["values"][0])


def window_sweep(
    metrics: HlclipMetrics, arms: Sequence[str], windows: Sequence[int]
) -> dict[str, dict[int, list[float]]]:
    """``{arm: {w: per-seed VeryGood mAP}}`` (the pooling picture's data)."""
    return {arm: {w: metrics.vg["map"][arm][f"w{w}"]["values"] for w in windows} for arm in arms}
