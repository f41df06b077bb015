"""Independent jobs (one per seed, say) in worker processes, with results in job order.

``map_jobs(function, jobs, workers)`` calls ``function(*job)`` for every job: in this process
when ``workers <= 1``, otherwise in ``workers`` spawned processes (fresh interpreters: no forked
torch state); either way each job computes on one CPU thread. Small models train faster as separate
processes than as threads of one process, and a job's result never depends on ``workers``
(every job seeds itself). ``function`` must be importable by name (a module-level function)
and its arguments and result picklable.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from tqdm.auto import tqdm


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def map_jobs(function: Callable[..., Any], jobs: Sequence[tuple], workers: int = 1, desc: str = "jobs") -> list[Any]:
    """``[function(*job) for job in jobs]``, possibly in parallel processes; the order is kept."""
    if workers <= 1 or len(jobs) <= 1:
        import torch

        previous = torch.get_num_threads()
        torch.set_num_threads(1)  # as in a worker: results and speed do not depend on ``workers``
        try:
            return [function(*job) for job in tqdm(jobs, desc=desc, leave=False)]
        finally:
            torch.set_num_threads(previous)
    results: dict[int, Any] = {}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context, initializer=_one_thread) as pool:
        futures = {pool.submit(function, *job): index for index, job in enumerate(jobs)}
        for future in tqdm(as_completed(futures), total=len(futures), desc=f"{desc} ({workers} at once)", leave=False):
            results[futures[future]] = future.result()
    return [results[i] for i in range(len(jobs))]
