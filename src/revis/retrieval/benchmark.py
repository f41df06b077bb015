"""``python -m revis.retrieval.benchmark``: rank 10,000 gallery items x 1,000 queries, vectorised vs a plain loop.

The loop is timed on a subset of queries and extrapolated (the full loop takes minutes);
both give the same ranks on the subset (checked).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from revis.retrieval.ranking import rank_metrics, target_ranks, target_ranks_loop


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gallery", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--loop-queries", type=int, default=5, help="queries the plain loop ranks (extrapolated)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    gallery = rng.normal(size=(args.gallery, args.dim)).astype(np.float32)
    targets = rng.integers(0, args.gallery, size=args.queries)
    queries = gallery[targets] + 4.0 * rng.normal(size=(args.queries, args.dim)).astype(np.float32)
    start = time.perf_counter()
    ranks = target_ranks(queries, gallery, targets)
    vectorised = time.perf_counter() - start
    n = min(args.loop_queries, args.queries)
    start = time.perf_counter()
    looped = target_ranks_loop(queries[:n], gallery, targets[:n])
    loop = (time.perf_counter() - start) / n * args.queries
    assert np.array_equal(looped, ranks[:n]), "vectorised and looped ranks differ"
    print(f"gallery {args.gallery} x queries {args.queries} x {args.dim}-d")
    print(f"vectorised: {vectorised:.3f} s   metrics {rank_metrics(ranks)}")
    print(f"plain loop: {loop:.1f} s (extrapolated from {n} queries)   speed-up x{loop / max(vectorised, 1e-9):.0f}")


if __name__ == "__main__":
    main()
