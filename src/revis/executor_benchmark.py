"""Overhead per job of each backend of ``revis.workers`` on this machine.

``python -m revis.executor_benchmark [--jobs 40] [--workers 2]`` runs the same no-op jobs (a
small tensor sum: nothing to compute, so the figure is what the executor itself costs) inline,
on threads, on spawned processes and on a local Dask cluster (a scheduler and ``--workers``
worker processes of one thread each), and prints per backend the start-up (pool or cluster up,
every worker's first jobs done) and the steady overhead per job (wall time of the remaining jobs / their count).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from revis.workers import JobPool


def _noop(value: int) -> float:
    import torch

    return float(torch.arange(4).sum()) + value


def _measure(pool: JobPool, jobs: int) -> tuple[float, float]:
    start = time.perf_counter()  # warm-up: every worker up, with torch imported (seconds in a fresh process)
    pool.map(_noop, [(i,) for i in range(4 * pool.workers)])
    first = time.perf_counter() - start
    start = time.perf_counter()
    pool.map(_noop, [(i,) for i in range(jobs)])
    return first, (time.perf_counter() - start) / jobs


def benchmark(jobs: int = 40, workers: int = 2) -> list[dict[str, Any]]:
    """One row per backend: start-up seconds and seconds per job."""
    rows = []
    for backend in ("inline", "threads", "processes"):
        started = time.perf_counter()
        with JobPool(backend, workers, threads=1 if backend == "processes" else None) as pool:  # type: ignore[arg-type]
            first, per_job = _measure(pool, jobs)
        rows.append(
            {
                "backend": backend,
                "startup_s": time.perf_counter() - started - per_job * jobs,
                "first_s": first,
                "per_job_ms": per_job * 1e3,
            }
        )
    from distributed import LocalCluster

    started = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with JobPool("dask", workers, threads=1, address=cluster.scheduler_address, name="bench") as pool:
            first, per_job = _measure(pool, jobs)
        rows.append(
            {
                "backend": "dask (local cluster)",
                "startup_s": time.perf_counter() - started - per_job * jobs,
                "first_s": first,
                "per_job_ms": per_job * 1e3,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    print(f"{'backend':<22}{'start-up + first job (s)':>26}{'overhead per job (ms)':>24}")
    for row in benchmark(args.jobs, args.workers):
        print(f"{row['backend']:<22}{row['startup_s']:>26.2f}{row['per_job_ms']:>24.2f}")


if __name__ == "__main__":
    main()
