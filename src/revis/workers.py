"""The one executor of revis: independent jobs (seeds, arms, budgets) on threads, processes or Dask.

Every stage with independent jobs calls one of three entry points, each with the backend it
has always used on one machine, so that its results stay bit for bit what they were:

- ``run_jobs(function, jobs, workers, shared=..., threads=...)``: picklable jobs on ``workers``
  spawned processes (``workers <= 1``: in this process, in order), ``threads`` torch threads each;
- ``map_jobs(function, jobs, workers)``: the same with one torch thread per job, also in this process;
- ``run_threads(function, jobs)``: one Python thread per job, each torch op on one thread; for jobs
  that train objects in place (shared memory), so they always stay on this machine.

``JobPool`` is the pool underneath, for stages that submit jobs as earlier ones finish
(``revis.detection.ssda``). Backends: ``inline`` (tests, debugging), ``threads``, ``processes``
(spawned: no forked torch or OpenMP state; or forked from the fork server of ``prestart``, a
fresh interpreter that only imported torch and the stage's modules, where ``revis.stage`` starts
one) and ``dask`` (a ``distributed.Client`` at the address of ``runtime.scheduler`` in params.yaml
or of ``REVIS_DASK_SCHEDULER``). With Dask configured, the picklable jobs of
``run_jobs``/``map_jobs``/``JobPool`` go to the cluster with the torch thread count they would have had locally, so results do not change: every job seeds its own generators.
A value every job reads (``shared``) is sent to each worker once (scattered on Dask). Jobs that
need a GPU say so (``gpu=True``) and go to workers started with ``--resources GPU=1``. Curves a
job records with ``revis.curves.log_curve`` in another process come back with its result and
are replayed here as each job ends, so they reach the stage's MLflow run while the others run.

Stopping: when the stage's thread gets an exception (Ctrl-C, or the SIGTERM that the tracking
hook turns into one), the pool stops at once: pending jobs are cancelled, worker processes are
terminated, Dask futures cancelled, and job threads (daemons, so they never hold up the exit)
see their stop flag at their next ``check_stop()`` (``log_curve`` calls it between steps).
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from typing import Any, Literal

from tqdm.auto import tqdm

Backend = Literal["inline", "threads", "processes", "dask"]
BACKENDS: tuple[str, ...] = ("inline", "threads", "processes", "dask")
SCHEDULER_ENV = "REVIS_DASK_SCHEDULER"
_POLL_S = 0.2  # the stage's thread waits in short slices, so that a signal is handled at once

_NOTHING = object()
_shared: tuple = ()  # in a worker process: (shared,) when the jobs share a value, else ()
_start_method = "spawn"  # how this process starts its pools' workers: "forkserver" once ``prestart`` ran
# what every torch worker imports: revis first (its CPU-kernel pins precede torch), torch, and torch._dynamo,
# which every torch optimizer imports at its first step (~1.2 CPU s on its own)
PRELOAD: tuple[str, ...] = ("revis", "torch", "torch._dynamo", "revis.workers")
# glibc's malloc in the workers of ``prestart``: a freed tensor's memory stays with the process instead of
# going back to the system and faulting in again at the next allocation (blocks up to 1 GiB come from the heap,
# not from mmap; the heap grows 256 MiB at a time and is trimmed only above 2 GiB). gig-evaluate's workers made
# 4.9 M page faults (7.7 s of system CPU) without it, 0.4 M (2.0 s) with it. Where memory comes from does not
# change what is computed in it (md5 of every prestarted stage's outputs, unchanged).
WORKER_MALLOC = {
    "MALLOC_MMAP_THRESHOLD_": str(1 << 30),
    "MALLOC_TRIM_THRESHOLD_": str(2 << 30),
    "MALLOC_TOP_PAD_": str(256 << 20),
}


class JobStopped(Exception):
    """Raised in a job thread by ``check_stop`` after its pool was told to stop."""


# -- configuration: where the picklable jobs run ----------------------------------------------


@dataclass(frozen=True)
class ExecutorSettings:
    """``executor``: 'local' (each stage's own backend on this machine) or 'dask' (at ``scheduler``)."""

    executor: Literal["local", "dask"] = "local"
    scheduler: str | None = None


_settings = ExecutorSettings()


def configure(executor: str = "local", scheduler: str | None = None) -> ExecutorSettings:
    """Set where jobs run (from params ``runtime.executor``/``runtime.scheduler``); returns the previous setting."""
    global _settings
    if executor not in ("local", "dask"):
        raise ValueError(f"runtime.executor must be 'local' or 'dask', got {executor!r}")
    previous, _settings = _settings, ExecutorSettings(executor, scheduler)  # type: ignore[arg-type]
    return previous


def dask_address() -> str | None:
    """The scheduler the jobs go to, or None to run them on this machine.

    ``runtime.executor: dask`` takes ``runtime.scheduler`` or else ``REVIS_DASK_SCHEDULER``;
    with ``local`` (the default) a set ``REVIS_DASK_SCHEDULER`` still sends them to that cluster.
    """
    address = _settings.scheduler or os.environ.get(SCHEDULER_ENV) or None
    if _settings.executor == "dask" and not address:
        raise ValueError(
            f"runtime.executor is 'dask' but neither runtime.scheduler nor {SCHEDULER_ENV} names a scheduler"
        )
    return address


# -- stop flag and curves of jobs run elsewhere ----------------------------------------------


_job = threading.local()  # in a job thread: .stop, the pool's threading.Event


def check_stop() -> None:
    """Between steps of a job: raise ``JobStopped`` if the job's pool was told to stop."""
    stop = getattr(_job, "stop", None)
    if stop is not None and stop.is_set():
        raise JobStopped("the stage was stopped")


@dataclass
class _Outcome:
    """A job's result with the curve points it recorded where no tracking sink was installed."""

    result: Any
    curves: list[tuple[dict[str, float], int]] = field(default_factory=list)


def _with_curves(function: Callable[..., Any], args: tuple) -> _Outcome:
    from revis.curves import set_sink

    recorded: list[tuple[dict[str, float], int]] = []
    previous = set_sink(lambda values, step: recorded.append((dict(values), step)))
    try:
        return _Outcome(function(*args), recorded)
    finally:
        set_sink(previous)


def _replay(outcome: _Outcome) -> Any:
    from revis.curves import replay

    replay(outcome.curves)
    return outcome.result


# -- what runs in a worker process or on a Dask worker -----------------------------------------


def _start_worker(shared: tuple, threads: int | None) -> None:
    global _shared
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    _shared = shared


def _call(function: Callable[..., Any], job: tuple) -> _Outcome:
    return _with_curves(function, (*_shared, *job))


def _dask_call(function: Callable[..., Any], head: tuple, threads: int | None, job: tuple) -> _Outcome:
    if threads is not None:
        import torch

        torch.set_num_threads(threads)  # as the job would have had on this machine
    return _with_curves(function, (*head, *job))


# -- where worker processes come from ----------------------------------------------------------


def prestart(modules: Sequence[str] = ()) -> None:
    """From now on, this process's pools fork their workers from a fork server started here, in the background,
    that imports ``PRELOAD`` and ``modules`` (the stage's node module: what its jobs import) once.

    Without it every worker is spawned and imports torch, torch._dynamo and the job's modules itself (~3 CPU s
    per worker, seconds of wall before the first job). The server is a fresh interpreter that only imported
    modules (no torch op ran; of the OpenMP thread torch's import starts, a fork keeps nothing), so a forked
    worker computes as a spawned one: the pool's initializer sets its torch threads, the kernels are pinned by
    the same environment, and jobs seed their own generators (torch's global one starts from a random seed in a
    spawned worker too). Tested bit for bit (tests/test_workers.py) and on every stage of ``revis.stage.PRESTARTED``
    (md5 of its outputs). It starts while the stage starts Kedro and loads its inputs, on the core the stage
    leaves idle; its workers end with ``os._exit`` (no interpreter tear-down: pools close at once). A no-op where
    the platform has no fork server.
    """
    global _start_method
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return
    from multiprocessing import forkserver

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([*PRELOAD, *modules])
    saved = {name: os.environ.get(name) for name in WORKER_MALLOC}
    os.environ.update({name: os.environ.get(name) or value for name, value in WORKER_MALLOC.items()})
    try:  # the server and its workers read the environment it starts with; this process keeps its own
        forkserver.ensure_running()  # returns at once; the first pool waits until the server has imported
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    _start_method = "forkserver"


def stop_prestarted() -> None:
    """End the fork server of ``prestart`` at once and reap it, so that its workers' CPU counts as this
    process's children's (as spawned workers' does); afterwards pools spawn again. Call it when no pool is open:
    the server holds nothing but its imports (a normal exit would spend a second tearing torch down)."""
    global _start_method
    if _start_method != "forkserver":
        return
    _start_method = "spawn"
    from multiprocessing import forkserver

    server = forkserver._forkserver
    pid, stop = getattr(server, "_forkserver_pid", None), getattr(server, "_stop", None)  # CPython >= 3.8
    if pid is None or stop is None:
        return  # else the server ends with this process
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    stop()  # closes its pipe and waits for it


def start_method() -> str:
    """``"spawn"`` (the default) or ``"forkserver"`` (after ``prestart``): how pools start their workers."""
    return _start_method


# -- the pool ------------------------------------------------------------------------------------


class JobPool:
    """Up to ``workers`` jobs at once on ``backend``; ``submit`` returns a future, ``wait_any`` the finished ones.

    ``threads``: torch threads per job (None: the worker's default; inline and threads leave them
    as they are). ``shared`` reaches every job as its first argument, sent once per worker.
    ``gpu``: jobs need a GPU (Dask resource ``GPU=1``). Leaving the ``with`` block on an exception
    stops the pool without waiting for running jobs.
    """

    def __init__(
        self,
        backend: Backend,
        workers: int = 1,
        *,
        threads: int | None = None,
        shared: Any = _NOTHING,
        gpu: bool = False,
        address: str | None = None,
        name: str = "jobs",
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown executor backend {backend!r} (known: {', '.join(BACKENDS)})")
        self.backend = backend
        self.workers = max(1, workers)
        self.threads = threads
        self.head: tuple = () if shared is _NOTHING else (shared,)  # the sentinel does not survive pickling
        self.gpu = gpu
        self.name = name
        self.stop_event = threading.Event()
        self._futures: list[Any] = []
        self._processes: ProcessPoolExecutor | None = None
        self._queue: list[tuple[Future, Callable[..., Any], tuple]] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._client: Any = None
        if backend == "processes":
            context = multiprocessing.get_context(_start_method)
            self._processes = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=context, initializer=_start_worker, initargs=(self.head, threads)
            )
        elif backend == "dask":
            from distributed import Client

            address = address or dask_address()
            if not address:
                raise ValueError(f"the dask backend needs a scheduler address (runtime.scheduler or {SCHEDULER_ENV})")
            self._client = Client(address, set_as_default=False, timeout="30s")
            if self.head:  # one copy per worker, not one per job
                self.head = (self._client.scatter(self.head[0], broadcast=True, hash=False),)

    # submitting and collecting

    def submit(self, function: Callable[..., Any], *args: Any) -> Any:
        """Start ``function(*shared, *args)``; a future whose ``result()`` is the job's result."""
        if self.stop_event.is_set():
            raise RuntimeError(f"{self.name}: the pool was stopped")
        if self.backend == "inline":
            future: Future = Future()
            try:
                future.set_result(function(*self.head, *args))
            except Exception as exc:  # a BaseException (Ctrl-C) goes straight up
                future.set_exception(exc)
            return future
        if self.backend == "threads":
            future = Future()
            with self._lock:
                self._queue.append((future, function, args))
                if len(self._threads) < self.workers:
                    thread = threading.Thread(
                        target=self._serve, name=f"revis-job-{len(self._threads)}", daemon=True
                    )  # a daemon: a stopped stage exits without waiting for it
                    self._threads.append(thread)
                    thread.start()
            return future
        if self.backend == "processes":
            assert self._processes is not None
            inner = self._processes.submit(_call, function, args)
            self._futures.append(inner)
            return _Replaying(inner)
        key = f"{self.name}-{uuid.uuid4().hex[:12]}"
        remote = self._client.submit(
            _dask_call,
            function,
            self.head,
            self.threads,
            args,
            key=key,
            pure=False,
            resources={"GPU": 1} if self.gpu else None,
        )
        self._futures.append(remote)
        return _Replaying(remote)

    def _serve(self) -> None:
        _job.stop = self.stop_event
        while not self.stop_event.is_set():
            with self._lock:
                if not self._queue:
                    self._threads.remove(threading.current_thread())
                    return
                future, function, args = self._queue.pop(0)
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(function(*self.head, *args))
            except BaseException as exc:  # handed to the waiting thread
                future.set_exception(exc)

    def wait_any(self, futures: Iterable[Any]) -> list[Any]:
        """The futures among ``futures`` that are done, waiting (in short slices) until one is."""
        pending = list(futures)
        while True:
            done = [f for f in pending if f.done()]
            if done or not pending:
                return done
            if self.backend == "dask":  # a Dask future's state is known here: a short sleep between looks
                time.sleep(0.05)
            else:
                wait_futures([getattr(f, "inner", f) for f in pending], timeout=_POLL_S, return_when=FIRST_COMPLETED)

    def as_completed(self, futures: Sequence[Any]) -> Iterator[Any]:
        """Each future once, as it finishes."""
        pending = list(futures)
        while pending:
            for future in self.wait_any(pending):
                pending.remove(future)
                yield future

    def map(
        self, function: Callable[..., Any], jobs: Sequence[tuple], order: Sequence[int] | None = None, desc: str = ""
    ) -> list[Any]:
        """``[function(*shared, *job) for job in jobs]``, submitted in ``order``; results in job order."""
        indices = list(order) if order is not None else list(range(len(jobs)))
        label = desc or self.name
        if self.backend == "inline":  # in job order, failing at the first failure as a plain loop would
            return [function(*self.head, *job) for job in tqdm(jobs, desc=label, leave=False)]
        futures = {self.submit(function, *jobs[i]): i for i in indices}
        results: dict[int, Any] = {}
        for future in tqdm(
            self.as_completed(list(futures)), total=len(futures), desc=f"{label} ({self.describe()})", leave=False
        ):
            results[futures[future]] = future.result()
        return [results[i] for i in range(len(jobs))]

    def describe(self) -> str:
        return (
            f"dask at {self._client.scheduler.address}"
            if self._client is not None
            else f"{self.workers} {self.backend}"
        )

    # ending

    def stop(self) -> None:
        """Stop now: cancel what has not started, end what runs, without waiting for it."""
        self.stop_event.set()
        with self._lock:
            for future, _, _ in self._queue:
                future.cancel()
            self._queue.clear()
        if self._processes is not None:
            processes = list(getattr(self._processes, "_processes", {}).values())
            self._processes.shutdown(wait=False, cancel_futures=True)
            for process in processes:  # running jobs end now, not when they finish
                if process.is_alive():
                    process.terminate()
            self._processes = None
        if self._client is not None:
            try:
                self._client.cancel(self._futures, force=True)
            finally:
                self._close_client()

        if any(thread.is_alive() for thread in self._threads):
            _exit_without_waiting_for(self._threads)

    def close(self) -> None:
        if self._processes is not None:
            self._processes.shutdown(wait=True)
            self._processes = None
        if self._client is not None:
            self._close_client()

    def _close_client(self) -> None:
        client, self._client = self._client, None
        with contextlib.suppress(Exception):  # a scheduler already gone must not hide the stage's own error
            client.close(timeout=10)

    def __enter__(self) -> JobPool:
        return self

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        if kind is None:
            self.close()
        else:
            self.stop()


_abandoned: list[threading.Thread] = []


def _exit_without_waiting_for(threads: list[threading.Thread]) -> None:
    """At exit, end the process at once if stopped job threads still run.

    They are daemons, so Python does not wait for them, but tearing the interpreter down under a
    thread inside a torch op aborts ("terminate called without an active exception").
    """
    if not _abandoned:
        atexit.register(_exit_now)
    _abandoned.extend(threads)


def _exit_now() -> None:
    if any(thread.is_alive() for thread in _abandoned):
        import logging

        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)  # the stage failed (it was stopped); its MLflow run is recorded KILLED by the agent


class _Replaying:
    """A process or Dask future whose result replays the job's curves here, once."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self._result: Any = _NOTHING

    def done(self) -> bool:
        return bool(self.inner.done())

    def result(self) -> Any:
        if self._result is _NOTHING:
            self._result = _replay(self.inner.result())
        return self._result


# -- entry points --------------------------------------------------------------------------------


def job_pool(default: Backend, workers: int, **options: Any) -> JobPool:
    address = dask_address()
    if address:
        return JobPool("dask", workers, address=address, **options)
    return JobPool(default, workers, **options)


def run_jobs(
    function: Callable[..., Any],
    jobs: Sequence[tuple],
    workers: int = 1,
    desc: str = "jobs",
    shared: Any = _NOTHING,
    *,
    threads: int = 1,
    cost: Callable[[tuple], float] | None = None,
    gpu: bool = False,
) -> list[Any]:
    """``[function(*job) for job in jobs]`` (``function(shared, *job)`` with ``shared``); results in job order.

    Locally on up to ``workers`` spawned processes of ``threads`` torch threads each (``workers
    <= 1``: in this process, in order, with its thread count). ``cost`` (an estimate per job)
    submits the largest jobs first, so that the workers finish together.
    """
    import torch

    workers = max(1, min(workers, len(jobs)))
    order = sorted(range(len(jobs)), key=lambda i: -cost(jobs[i])) if cost else None
    # the torch threads a job gets locally, which it keeps on a Dask worker
    job_threads = threads if workers > 1 else torch.get_num_threads()
    backend: Backend = "processes" if workers > 1 else "inline"
    with job_pool(backend, workers, threads=job_threads, shared=shared, gpu=gpu, name=_key(desc)) as pool:
        return pool.map(function, jobs, order, desc)


def map_jobs(function: Callable[..., Any], jobs: Sequence[tuple], workers: int = 1, desc: str = "jobs") -> list[Any]:
    """``[function(*job) for job in jobs]`` with one torch thread per job, on ``workers`` processes or here."""
    import torch

    if workers <= 1 or len(jobs) <= 1:
        previous = torch.get_num_threads()
        torch.set_num_threads(1)  # as in a worker: results and speed do not depend on ``workers``
        try:
            return run_jobs(function, jobs, 1, desc)
        finally:
            torch.set_num_threads(previous)
    return run_jobs(function, jobs, workers, desc, threads=1)


def run_threads(function: Callable[..., Any], jobs: Sequence[tuple], device: Any = "cpu") -> list[Any]:
    """``[function(*job) for job in jobs]`` on one Python thread per job, each torch op on one thread.

    For a few jobs of a small torch model each (a 2 M-parameter UNet: its ops are too small to use
    two intra-op threads well, and they release the GIL): on CPU the jobs share the cores, without
    the seconds a spawned worker spends importing diffusers again. Three UNet trainings on 2 cores:
    0.35 s per step each, against 0.46 s one after another on 2 threads. A job must not touch
    another job's objects (a pipeline's scheduler keeps state) nor torch's global RNG (seed a
    ``torch.Generator``): then results depend only on the job, not on the scheduling. Off CPU (or
    with one job) the jobs run in order, in this thread. The jobs may train their arguments in
    place, so they stay on this machine whatever the executor setting.
    """
    import torch

    if len(jobs) <= 1 or torch.device(device).type != "cpu":
        return [function(*job) for job in jobs]
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # before the threads start: they inherit it
    try:
        with JobPool("threads", len(jobs), name="threads") as pool:
            return pool.map(function, jobs)
    finally:
        torch.set_num_threads(previous)


def _key(desc: str) -> str:
    """A Dask key prefix from a progress label (the dashboard groups tasks by it)."""
    return "".join(c if c.isalnum() else "-" for c in desc).strip("-")[:40] or "jobs"
