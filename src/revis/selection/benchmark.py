"""CSOD's selection time against apricot-select's greedy graph cut (same objective, one class).

    python -m revis.selection.benchmark            # n=2000, d=256, k=100
    python -m revis.selection.benchmark --n 5000 --repeats 5

Both start from the same n x d features. apricot gets the cosine similarity matrix
(``metric='precomputed'``; its own 'cosine' metric squares the similarity) and its
``naive`` greedy; its numba kernels are compiled by an untimed warm-up call. With one class,
CSOD(lambda) maximises the same graph cut as apricot with ``alpha = 2 / (1 + lambda)``, so the
two selections are also compared.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch

from revis.selection.csod import CSOD
from revis.selection.pool import SelectionPool


def one_class_pool(features: np.ndarray) -> SelectionPool:
    n = len(features)
    return SelectionPool(
        image_ids=[str(i) for i in range(n)],
        class_names=["object"],
        image_index=np.arange(n),
        class_index=np.zeros(n, dtype=np.int64),
        vectors=torch.as_tensor(features),
        box_counts=np.ones(n, dtype=np.int64),
    )


def apricot_graph_cut(features: np.ndarray, k: int, lam: float, optimizer: str = "naive") -> np.ndarray:
    from apricot import GraphCutSelection

    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    similarity = (unit @ unit.T).astype(np.float64)
    selector = GraphCutSelection(k, metric="precomputed", alpha=2.0 / (1.0 + lam), optimizer=optimizer)
    return np.asarray(selector.fit(similarity).ranking, dtype=np.int64)


def _best_time(fn, repeats: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def benchmark(
    n: int = 2000,
    d: int = 256,
    k: int = 100,
    lam: float = 1.0,
    repeats: int = 3,
    seed: int = 0,
    optimizer: str = "naive",
) -> dict[str, Any]:
    """Best-of-``repeats`` wall seconds of each and their ratio (apricot / CSOD)."""
    torch.set_num_threads(1)  # both single-threaded (apricot's naive greedy is numpy on one core)
    rng = np.random.default_rng(seed)
    # non-negative features (post-activation-like): cosine similarities are >= 0 as graph cut wants
    features = np.abs(rng.normal(size=(n, d))).astype(np.float32) + rng.random((1, d), dtype=np.float32)
    pool = one_class_pool(features)
    csod = CSOD(lam=lam)
    apricot_graph_cut(features[:50], 5, lam, optimizer)  # numba warm-up, not timed
    csod_s, csod_picks = _best_time(lambda: csod.select(pool, k), repeats)
    apricot_s, apricot_picks = _best_time(lambda: apricot_graph_cut(features, k, lam, optimizer), repeats)
    return {
        "n": n,
        "d": d,
        "k": k,
        "lam": lam,
        "csod_s": csod_s,
        "apricot_s": apricot_s,
        "ratio_apricot_over_csod": apricot_s / csod_s,
        "apricot_optimizer": optimizer,
        "same_selection": bool(set(csod_picks.tolist()) == set(apricot_picks.tolist())),
        "same_order": bool(np.array_equal(csod_picks, apricot_picks)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--d", type=int, default=256)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--lam", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--optimizer", default="naive", help="apricot optimizer (naive, lazy, two-stage, ...)")
    args = parser.parse_args(argv)
    result = benchmark(args.n, args.d, args.k, args.lam, args.repeats, optimizer=args.optimizer)
    print(f"n={result['n']} d={result['d']} k={result['k']} lambda={result['lam']}")
    print(f"CSOD (revis, torch, running class sums): {result['csod_s'] * 1000:8.1f} ms")
    print(f"apricot GraphCutSelection ({args.optimizer}):     {result['apricot_s'] * 1000:8.1f} ms")
    print(
        f"ratio apricot / CSOD: {result['ratio_apricot_over_csod']:.1f}x; "
        f"same selection: {result['same_selection']}, same order: {result['same_order']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
