"""Jobs on worker processes return what the same jobs return in this process, in job order."""

import re

import pytest

from revis.workers import run_jobs, run_threads


def _scaled(shared, value, power):
    return shared * value**power


def _plain(value):
    return -value


def test_inline_jobs_keep_their_order_and_get_the_shared_value():
    assert run_jobs(_scaled, [(1, 2), (2, 2), (3, 1)], workers=1, shared=10) == [10, 40, 30]
    assert run_jobs(_plain, [(1,), (2,)], workers=1) == [-1, -2]


@pytest.mark.integration
def test_worker_processes_return_the_same_results_in_job_order():
    jobs = [(v, p) for v in range(6) for p in (1, 2)]
    assert run_jobs(_scaled, jobs, workers=2, shared=3) == run_jobs(_scaled, jobs, workers=1, shared=3)
    assert run_jobs(_plain, [(4,), (5,)], workers=2) == [-4, -5]
    # the largest jobs go first, the results still come back in job order
    assert run_jobs(_plain, [(1,), (9,), (3,)], workers=2, cost=lambda job: job[0], threads=1) == [-1, -9, -3]


def _train_tiny(seed: int, steps: int = 5) -> tuple[list[float], list[int], str]:
    import threading

    import torch

    generator = torch.Generator().manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    losses = []
    for _ in range(steps):
        x = torch.randn(32, 8, generator=generator)
        loss = (model(x) - x.sum(1, keepdim=True)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses, [torch.get_num_threads()], threading.current_thread().name


def test_threaded_jobs_match_the_jobs_run_in_order_on_one_torch_thread():
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        expected = [_train_tiny(seed)[0] for seed in (0, 1, 2)]
    finally:
        torch.set_num_threads(previous)
    threaded = run_threads(_train_tiny, [(0,), (1,), (2,)])
    assert [losses for losses, _, _ in threaded] == expected  # bit for bit, in job order
    assert all(threads == [1] for _, threads, _ in threaded)  # each op on one thread inside the jobs
    assert all(name.startswith("revis-job") for _, _, name in threaded)  # not in this thread
    assert torch.get_num_threads() == previous  # restored
    # off CPU, or with one job, in order in this thread
    assert run_threads(_train_tiny, [(0,)])[0][2] == "MainThread"
    assert [r[2] for r in run_threads(_train_tiny, [(0,), (1,)], device="meta")] == ["MainThread"] * 2


def test_a_failing_threaded_job_raises_and_the_thread_count_comes_back():
    import torch

    previous = torch.get_num_threads()
    with pytest.raises(ZeroDivisionError):
        run_threads(lambda v: 1 / v, [(1,), (0,)])
    assert torch.get_num_threads() == previous


def _curved(seed: int) -> float:
    from revis.curves import curve_key, log_curve

    for step in range(3):
        log_curve({"loss": float(seed + step)}, step, curve_key("tiny", seed))
    return float(seed)


def test_the_inline_and_thread_backends_agree_bit_for_bit_in_job_order():
    import torch

    from revis.workers import JobPool

    jobs = [(seed, 4) for seed in (3, 1, 2)]
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with JobPool("inline") as pool:
            inline = pool.map(_train_tiny, jobs)
        with JobPool("threads", 2) as pool:
            threaded = pool.map(_train_tiny, jobs, order=[2, 0, 1])  # submitted out of order
    finally:
        torch.set_num_threads(previous)
    assert [r[0] for r in threaded] == [r[0] for r in inline]


@pytest.mark.integration
def test_the_process_backend_agrees_with_inline_and_brings_the_jobs_curves_back():
    import torch

    from revis.curves import set_sink
    from revis.workers import JobPool

    jobs = [(seed, 4) for seed in (0, 1, 2)]
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        expected = [_train_tiny(*job)[0] for job in jobs]
    finally:
        torch.set_num_threads(previous)
    points: list = []
    set_sink(lambda values, step: points.append((values, step)))
    try:
        with JobPool("processes", 2, threads=1) as pool:
            assert [r[0] for r in pool.map(_train_tiny, jobs)] == expected
            assert pool.map(_curved, [(1,), (2,)]) == [1.0, 2.0]
    finally:
        set_sink(None)
    # the curves a worker process recorded reach this process's sink (the stage's MLflow run)
    assert sorted((next(iter(v)), s) for v, s in points) == [
        (f"tiny/seed{k}/loss", s) for k in (1, 2) for s in range(3)
    ]


def test_a_stopped_thread_pool_ends_its_jobs_at_their_next_step_and_does_not_wait():
    import threading
    import time

    from revis.workers import JobPool, JobStopped

    started = threading.Event()
    steps: list[int] = []

    def long_job(n: int) -> int:
        for step in range(n):
            started.set()
            steps.append(step)
            _curved(0)  # log_curve checks the stop flag between steps
            time.sleep(0.01)
        return n

    pool = JobPool("threads", 1)
    future = pool.submit(long_job, 100_000)
    queued = pool.submit(long_job, 5)
    assert started.wait(10)
    begun = time.monotonic()
    pool.stop()
    with pytest.raises(JobStopped):
        future.result(timeout=5)
    assert time.monotonic() - begun < 1 and len(steps) < 100_000
    assert queued.cancelled()  # never started


def test_dask_needs_a_scheduler_and_the_environment_names_one(monkeypatch):
    from revis import workers

    monkeypatch.delenv(workers.SCHEDULER_ENV, raising=False)
    previous = workers.configure("dask")
    try:
        with pytest.raises(ValueError, match="REVIS_DASK_SCHEDULER"):
            workers.dask_address()
        monkeypatch.setenv(workers.SCHEDULER_ENV, "tcp://10.0.0.5:8786")
        assert workers.dask_address() == "tcp://10.0.0.5:8786"
        workers.configure("dask", "tcp://10.0.0.6:8786")
        assert workers.dask_address() == "tcp://10.0.0.6:8786"  # params win over the environment
        workers.configure("local")
        monkeypatch.delenv(workers.SCHEDULER_ENV)
        assert workers.dask_address() is None
        with pytest.raises(ValueError, match=re.escape("runtime.executor")):
            workers.configure("ray")
    finally:
        workers.configure(previous.executor, previous.scheduler)


def _process_facts(seed: int) -> tuple[list[float], int, bool, str]:
    import multiprocessing
    import sys

    import torch

    losses, _, _ = _train_tiny(seed, 4)
    method = multiprocessing.get_start_method(allow_none=True) or ""
    return losses, torch.get_num_threads(), "torch._dynamo" in sys.modules, method


@pytest.mark.integration
def test_workers_forked_from_a_prestarted_server_agree_with_spawned_ones_bit_for_bit():
    from revis import workers

    jobs = [(seed,) for seed in (0, 1, 2)]
    spawned = run_jobs(_process_facts, jobs, workers=2, threads=1)
    workers.prestart(["tests.test_workers"])
    try:
        assert workers.start_method() == "forkserver"
        forked = run_jobs(_process_facts, jobs, workers=2, threads=1)
        assert run_jobs(_process_facts, jobs, workers=1, threads=1)[0][0] == forked[0][0]  # inline: no server
    finally:
        workers.stop_prestarted()
    assert workers.start_method() == "spawn"
    assert [r[0] for r in forked] == [r[0] for r in spawned]  # the same losses, bit for bit
    assert [r[1] for r in forked] == [1, 1, 1]  # the pool's thread count, as a spawned worker's
    assert all(r[2] for r in forked)  # torch._dynamo came with the fork, imported once by the server
