"""Independent seeded jobs over a few worker processes (the CPU's cores), or inline.

A job is a picklable argument of a module-level function; every job seeds itself, so the
results do not depend on how many workers run them or in which order they finish. Workers are
spawned (fresh interpreters, no forked torch state) and use one torch thread each; with
``workers <= 1`` (tests, notebooks) the jobs run inline in the calling process.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def _start_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def run_jobs(
    fn: Callable[[Any], T],
    jobs: Sequence[Any],
    *,
    workers: int = 1,
    threads: int = 1,
    cost: Callable[[Any], float] | None = None,
    desc: str = "jobs",
) -> list[T]:
    """``[fn(job) for job in jobs]``, in order, over ``workers`` spawned processes (inline when ``workers <= 1``).

    ``cost`` (an estimate per job) submits the largest jobs first, so the workers finish together.
    """
    if workers <= 1 or len(jobs) <= 1:
        return [fn(job) for job in tqdm(jobs, desc=desc, leave=False)]
    results: list[Any] = [None] * len(jobs)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=min(workers, len(jobs)), mp_context=context, initializer=_start_worker, initargs=(threads,)
    ) as pool:
        order = sorted(range(len(jobs)), key=lambda i: -cost(jobs[i])) if cost else range(len(jobs))
        futures = {pool.submit(fn, jobs[i]): i for i in order}
        for future in tqdm(as_completed(futures), total=len(jobs), desc=f"{desc} ({workers} workers)", leave=False):
            results[futures[future]] = future.result()
    return results
