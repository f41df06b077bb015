"""A signal stops a stage whose jobs run on threads or processes within seconds, and its run ends KILLED.

Before the one executor, ``run_threads`` waited in ``with ThreadPoolExecutor`` for every running
job (baseline-train: 70-73 s after TERM); these jobs run 60 s and never look at a stop flag.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

STAGE = textwrap.dedent(
    """
    import os, signal, socket, sys, time
    import torch
    from revis.tracking.client import TrackingClient
    from revis.tracking.hook import _raise_terminated
    from revis.workers import run_jobs, run_threads

    def busy(seconds):  # torch work that never checks a stop flag
        x = torch.randn(64, 64)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            x = torch.tanh(x @ x)
        return float(x.sum())

    client = TrackingClient(sys.argv[1])
    client.start_run(experiment="demo", run_name="demo-train", start_time=int(time.time() * 1000),
                     tags={"revis.pid": str(os.getpid()), "revis.host": socket.gethostname()})
    signal.signal(signal.SIGTERM, _raise_terminated)  # as the tracking hook does for a stage
    print("started", flush=True)
    if sys.argv[2] == "threads":
        run_threads(busy, [(60,), (60,), (60,)])
    else:
        run_jobs(busy, [(60,), (60,), (60,)], workers=2)
    client.close("FINISHED")
    """
)


def _run_status(store, timeout=60):
    from revis.tracking.store import mlflow_client

    deadline = time.time() + timeout
    runs = []
    while time.time() < deadline:
        try:  # the agent may still be starting; mlflow_client waits while it creates the store (never both at once)
            client = mlflow_client(store)
            runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
        except Exception:
            runs = []
        if runs and runs[0].info.status != "RUNNING":
            return runs[0]
        time.sleep(1)
    return runs[0] if runs else None


def _children(pid: int) -> set[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return {int(p) for p in found.stdout.split()}


@pytest.mark.parametrize("backend", ["threads", "processes"])
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_a_signal_stops_jobs_on_threads_or_processes_within_five_seconds(tmp_path, backend, how):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", STAGE, store, backend], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "started"
    time.sleep(8 if backend == "processes" else 3)  # the jobs are running (spawned workers import torch first)
    workers = {c for c in _children(proc.pid)} if backend == "processes" else set()
    sent = time.monotonic()
    proc.send_signal(how)
    proc.wait(timeout=30)
    latency = time.monotonic() - sent
    print(f"{backend} {signal.Signals(how).name}: stopped {latency:.2f} s after the signal")
    assert latency < 5
    run = _run_status(store)
    assert run is not None and run.info.status == "KILLED"
    time.sleep(1)
    alive = {
        pid
        for pid in workers
        if os.path.exists(f"/proc/{pid}") and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    }
    # the tracking agent is a child too and outlives the stage on purpose; the job processes must not
    agents = {pid for pid in alive if b"revis.tracking.agent" in Path(f"/proc/{pid}/cmdline").read_bytes()}
    assert alive - agents == set()
