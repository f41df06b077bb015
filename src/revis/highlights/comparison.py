"""Compare scoring methods (arms) over seeds and pooling windows with the official metrics.

For every arm and seed: the evaluation split is scored at each pooling window w; a window
``w*`` is chosen per arm and seed on a *different* split (training queries: highest
VeryGood mAP, the smallest w on ties) and the arm's ``pooled`` result is its score at ``w*``
-- so "with pooling" never peeks at the evaluation split. Values are percentages
(``revis.highlights.evaluation``), summarised over seeds with ``mean_std``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from revis.datasets.qvhighlights import QvhQuery
from revis.highlights.evaluation import eval_submission
from revis.highlights.pooling import pool_scores
from revis.reporting.summary import mean_std

LEVEL_KEYS = {"Fair": "fair", "Good": "good", "VeryGood": "vg"}
Scores = Mapping[int, Sequence[float]]


def submission(scores: Scores, queries: Sequence[QvhQuery], w: int = 0) -> list[dict[str, Any]]:
    """An official-format submission (qid, query, vid, pred_saliency_scores) of pooled scores."""
    return [
        {
            "qid": q.qid,
            "query": q.query,
            "vid": q.vid,
            "pred_saliency_scores": pool_scores(np.asarray(scores[q.qid], dtype=float), w).tolist(),
        }
        for q in queries
    ]


def highlight_metrics(scores: Scores, queries: Sequence[QvhQuery], w: int = 0) -> dict[str, dict[str, float]]:
    """``{"vg": {"map", "hit1"}, "good": ..., "fair": ...}`` of pooled scores (percent)."""
    result = eval_submission(submission(scores, queries, w), queries)
    return {
        key: {"map": result[f"HL-min-{level}"]["HL-mAP"], "hit1": result[f"HL-min-{level}"]["HL-Hit1"]}
        for level, key in LEVEL_KEYS.items()
    }


def choose_window(scores: Scores, queries: Sequence[QvhQuery], windows: Sequence[int]) -> int:
    """The pooling window with the highest VeryGood mAP on ``queries`` (the smallest on ties)."""
    values = [highlight_metrics(scores, queries, w)["vg"]["map"] for w in sorted(windows)]
    return sorted(windows)[int(np.argmax(values))]


def compare_runs(
    runs: Mapping[str, Mapping[int, Mapping[str, Scores]]],
    eval_queries: Sequence[QvhQuery],
    select_queries: Sequence[QvhQuery],
    windows: Sequence[int],
) -> dict[str, Any]:
    """``runs[arm][seed] = {"eval": scores, "select": scores}`` -> per level / metric / arm: w0..wN and pooled."""
    out: dict[str, Any] = {key: {"map": {}, "hit1": {}} for key in LEVEL_KEYS.values()}
    out["best_w"], out["eval_best_w"] = {}, {}
    for arm, by_seed in runs.items():
        seeds = sorted(by_seed)
        table: dict[int, dict[int, dict[str, dict[str, float]]]] = {}  # seed -> w -> level -> metric
        chosen = []
        for seed in seeds:
            table[seed] = {w: highlight_metrics(by_seed[seed]["eval"], eval_queries, w) for w in windows}
            chosen.append(choose_window(by_seed[seed]["select"], select_queries, windows))
        for level in LEVEL_KEYS.values():
            for metric in ("map", "hit1"):
                entry = {f"w{w}": mean_std([table[s][w][level][metric] for s in seeds], seeds) for w in windows}
                entry["pooled"] = mean_std([table[s][w][level][metric] for s, w in zip(seeds, chosen)], seeds)
                out[level][metric][arm] = entry
        out["best_w"][arm] = mean_std(chosen, seeds)
        vg_means = [np.mean([table[s][w]["vg"]["map"] for s in seeds]) for w in windows]
        out["eval_best_w"][arm] = int(list(windows)[int(np.argmax(vg_means))])
    return out
