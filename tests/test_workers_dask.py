"""A real Dask cluster on 127.0.0.1 (a scheduler and two workers): a stage's jobs give the same results there.

``dsv-features`` trains one teacher per (dataset, seed): independent jobs through
``revis.workers.run_jobs``. With ``REVIS_DASK_SCHEDULER`` set they run on the cluster, with the
torch threads they would have had here, and the teachers come back bit for bit the same. A worker
killed mid-run loses its jobs; Dask runs them again on the other one, and the results still agree.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("dask", path=str(Path(sys.executable).parent)) is None, reason="no dask CLI"),
]

DASK = str(Path(sys.executable).parent / "dask")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalCluster:
    """``dask scheduler`` and ``dask worker`` processes of our own (no nanny: a killed worker stays dead)."""

    def __init__(self, workers: int = 2) -> None:
        self.address = f"tcp://127.0.0.1:{_free_port()}"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        common = {"env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "start_new_session": True}
        port = self.address.rsplit(":", 1)[1]
        self.scheduler = subprocess.Popen(
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"], **common
        )
        self.workers = {
            f"w{i}": subprocess.Popen(
                [
                    DASK,
                    "worker",
                    self.address,
                    "--name",
                    f"w{i}",
                    "--nthreads",
                    "1",
                    "--no-nanny",
                    "--no-dashboard",
                    "--host",
                    "127.0.0.1",
                    "--resources",
                    "GPU=1" if i == 0 else "CPU=1",
                ],
                **common,
            )
            for i in range(workers)
        }
        from distributed import Client

        self.client = Client(self.address, timeout="60s", set_as_default=False)
        self.client.wait_for_workers(workers, timeout=120)

    def kill(self, name: str) -> None:
        self.workers[name].send_signal(signal.SIGKILL)
        self.workers[name].wait(timeout=30)

    def stop(self) -> None:
        self.client.close()
        for process in [*self.workers.values(), self.scheduler]:
            if process.poll() is None:
                process.terminate()
        for process in [*self.workers.values(), self.scheduler]:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def cluster():
    started = LocalCluster()
    try:
        yield started
    finally:
        started.stop()


def _image_set(n_per_class: int, classes: int, size: int, seed: int):
    import numpy as np

    from revis.datasets.imageset import ImageSet

    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), n_per_class)
    images = rng.integers(0, 60, (len(labels), size, size, 1), dtype=np.uint8)
    for i, c in enumerate(labels):  # a class-dependent bright stripe: learnable
        images[i, c % size] = 220
    return ImageSet(images, labels, [str(c) for c in range(classes)])


def _teachers(run_in_memory, tiny_params, seeds, epochs=1) -> dict:
    """``dsv-features`` (one teacher per seed: independent jobs) at tiny size, in memory."""
    import copy

    import yaml

    def merge(a: dict, b: dict) -> dict:
        out = copy.deepcopy(a)
        for k, v in b.items():
            out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        return out

    base = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())["dsv"]
    params = merge(base, tiny_params["dsv"])
    params["seeds"] = {"digits": list(seeds)}  # digits only: dsv.seeds names the datasets
    params["teacher"]["epochs"] = epochs
    digits = {"train": _image_set(12, 10, 8, 0), "test": _image_set(3, 10, 8, 1)}
    inputs = {"world.digits": digits, "world.shapes": {"train": _image_set(4, 5, 8, 2), "test": _image_set(2, 5, 8, 3)}}
    return run_in_memory("dsv", inputs, {"dsv": params}, tags=["features"])["dsv.teachers"]


def _keys_run(cluster: LocalCluster, start: int) -> list[str]:
    """Keys of the tasks the cluster's workers finished since ``start`` (a transition-log index)."""
    log = cluster.client.run_on_scheduler(lambda dask_scheduler: [str(t[0]) for t in dask_scheduler.transition_log])
    return log[start:]


def test_a_stage_on_a_dask_cluster_gives_the_local_results_bit_for_bit(
    cluster, run_in_memory, tiny_params, monkeypatch
):
    monkeypatch.delenv("REVIS_DASK_SCHEDULER", raising=False)
    local = _teachers(run_in_memory, tiny_params, seeds=(0, 1, 2))
    monkeypatch.setenv("REVIS_DASK_SCHEDULER", cluster.address)
    before = len(_keys_run(cluster, 0))
    remote = _teachers(run_in_memory, tiny_params, seeds=(0, 1, 2))
    assert len({k for k in _keys_run(cluster, before) if k.startswith("teachers-")}) == 3  # ran there, not here
    _same(local, remote)


def test_a_worker_killed_mid_run_costs_its_jobs_not_the_results(cluster, run_in_memory, tiny_params, monkeypatch):
    monkeypatch.delenv("REVIS_DASK_SCHEDULER", raising=False)
    seeds = (0, 1, 2, 3)
    local = _teachers(run_in_memory, tiny_params, seeds=seeds, epochs=3)
    monkeypatch.setenv("REVIS_DASK_SCHEDULER", cluster.address)
    outcome: dict = {}

    def stage() -> None:
        try:
            outcome["teachers"] = _teachers(run_in_memory, tiny_params, seeds=seeds, epochs=3)
        except BaseException as exc:  # reported by the test thread
            outcome["error"] = exc

    runner = threading.Thread(target=stage)
    runner.start()
    killed = None
    deadline = time.time() + 120
    while killed is None and runner.is_alive() and time.time() < deadline:
        info = cluster.client.scheduler_info()["workers"]
        for address, tasks in cluster.client.processing().items():
            if tasks and info.get(address, {}).get("name") == "w1":
                cluster.kill("w1")  # mid-job: its running and queued jobs are lost with it
                killed = address
                break
        time.sleep(0.05)
    runner.join(timeout=300)
    assert killed is not None, "w1 never got a job"
    assert "error" not in outcome, outcome.get("error")
    assert len(cluster.client.scheduler_info()["workers"]) == 1
    _same(local, outcome["teachers"])


def _same(a, b) -> None:
    assert a.keys() == b.keys()
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, dict):
            _same(x, y)
        elif isinstance(x, torch.Tensor):
            assert torch.equal(x, y), key
        else:
            assert x == y, key
