"""Independent jobs (one per seed, per layer, per learning rate, ...) on a few worker processes.

Small CPU models use a core badly through intra-op threads (their ops are too small to split),
so a stage with several independent runs gets more from one process per core, each with
``threads`` torch threads. ``workers <= 1`` runs the jobs in this process (tests, debugging), in
order. Workers are spawned (a fresh interpreter: no forked torch or OpenMP state); a job is a
tuple of picklable arguments of a top-level function, and its result comes back pickled. Every
job seeds itself, so results do not depend on the number of workers or the finishing order.
``shared`` (e.g. the dataset every job reads) goes to each worker once instead of once per job:
the function is then called as ``function(shared, *job)``. ``cost`` (an estimate per job)
submits the largest jobs first, so that the workers finish together.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from typing import Any

from tqdm.auto import tqdm

_NOTHING = object()
_shared: tuple = ()  # in a worker: (shared,) when the jobs share a value, else ()


def _start_worker(shared: tuple, threads: int) -> None:
    import torch

    global _shared
    torch.set_num_threads(threads)
    _shared = shared


def _call(function: Callable[..., Any], job: tuple) -> Any:
    return function(*_shared, *job)


def run_jobs(
    function: Callable[..., Any],
    jobs: Sequence[tuple],
    workers: int = 1,
    desc: str = "jobs",
    shared: Any = _NOTHING,
    *,
    threads: int = 1,
    cost: Callable[[tuple], float] | None = None,
) -> list[Any]:
    """``[function(*job) for job in jobs]`` (``function(shared, *job)`` with ``shared``) on up to
    ``workers`` processes; results in job order."""
    workers = max(1, min(workers, len(jobs)))
    head = () if shared is _NOTHING else (shared,)  # a tuple: the sentinel itself does not survive pickling
    if workers == 1:
        return [function(*head, *job) for job in tqdm(jobs, desc=desc, leave=False)]
    results: dict[int, Any] = {}
    order = sorted(range(len(jobs)), key=lambda i: -cost(jobs[i])) if cost else range(len(jobs))
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_start_worker, initargs=(head, threads)
    ) as pool:
        futures = {pool.submit(_call, function, jobs[i]): i for i in order}
        for future in tqdm(
            as_completed(futures), total=len(futures), desc=f"{desc} ({workers} processes)", leave=False
        ):
            results[futures[future]] = future.result()
    return [results[i] for i in range(len(jobs))]


def run_threads(function: Callable[..., Any], jobs: Sequence[tuple], device: Any = "cpu") -> list[Any]:
    """``[function(*job) for job in jobs]`` on one Python thread per job, each torch op on one thread.

    For a few jobs of a small torch model each (a 2 M-parameter UNet: its ops are too small to use
    two intra-op threads well, and they release the GIL): on CPU the jobs share the cores, without
    the seconds a spawned worker spends importing diffusers again. Three UNet trainings on 2 cores:
    0.35 s per step each, against 0.46 s one after another on 2 threads. A job must not touch
    another job's objects (a pipeline's scheduler keeps state) nor torch's global RNG (seed a
    ``torch.Generator``): then results depend only on the job, not on the scheduling. Off CPU (or
    with one job) the jobs run in order, in this thread.
    """
    import torch

    if len(jobs) <= 1 or torch.device(device).type != "cpu":
        return [function(*job) for job in jobs]
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="revis-job") as pool:
            return list(pool.map(lambda job: function(*job), jobs))
    finally:
        torch.set_num_threads(previous)
