"""Cosine ranking of a whole gallery, vectorised, and the metrics text-video retrieval papers report.

``target_ranks(queries, gallery, targets)``: the 1-based rank of each query's target video
among all gallery videos by cosine similarity; ties count against the query (a gallery item
scoring *at least* as high as the target ranks before it), so a constant model scores chance.
Metrics: R@1/5/10 in percent, median rank (MdR) and mean rank (MnR), as CLIP4Clip and MERLIN
report them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def cosine(queries: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """(Q, G) cosine similarities."""
    return normalise(queries) @ normalise(gallery).T


def target_ranks(
    queries: np.ndarray, gallery: np.ndarray, targets: Sequence[int] | np.ndarray, chunk: int = 1024
) -> np.ndarray:
    """(Q,) 1-based rank of ``gallery[targets[i]]`` for query i (pessimistic ties), in chunks of queries."""
    targets = np.asarray(targets, dtype=np.int64)
    g = normalise(gallery)
    q = normalise(queries)
    out = np.empty(len(q), dtype=np.int64)
    for start in range(0, len(q), chunk):
        sim = q[start : start + chunk] @ g.T
        rows = np.arange(len(sim))
        own = sim[rows, targets[start : start + chunk]]
        out[start : start + chunk] = (sim >= own[:, None]).sum(1)  # counts the target itself once: 1-based
    return out


def target_ranks_loop(queries: np.ndarray, gallery: np.ndarray, targets: Sequence[int]) -> np.ndarray:
    """The same ranks with plain Python loops (the benchmark's reference)."""
    g = [list(map(float, v)) for v in normalise(gallery)]
    out = []
    for qv, t in zip(normalise(queries), targets):
        qv = list(map(float, qv))
        sims = [sum(a * b for a, b in zip(qv, gv)) for gv in g]
        out.append(sum(1 for s in sims if s >= sims[t]))
    return np.asarray(out, dtype=np.int64)


def top_k(queries: np.ndarray, gallery: np.ndarray, k: int) -> np.ndarray:
    """(Q, k) gallery indices of the k best matches, best first."""
    sim = cosine(queries, gallery)
    k = min(k, sim.shape[1])
    part = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(sim, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def rank_metrics(ranks: Sequence[int] | np.ndarray, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """``{"r1", "r5", "r10" (percent), "mdr", "mnr"}`` of 1-based ranks."""
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.size == 0 or ranks.min() < 1:
        raise ValueError("ranks must be a non-empty list of 1-based ranks")
    out = {f"r{k}": float(100.0 * np.mean(ranks <= k)) for k in ks}
    out["mdr"] = float(np.median(ranks))
    out["mnr"] = float(np.mean(ranks))
    return out
