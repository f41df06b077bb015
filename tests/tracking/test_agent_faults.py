"""A shared MLflow agent that dies (kill -9) or stops (SIGSTOP) during a stage: the stage replays its run to
another agent, the store holds one run, FINISHED, with all its metrics, and a stopped agent costs seconds."""

import os
import signal
import socket
import time

import pytest

from revis.tracking import client as tracking
from revis.tracking.agent import socket_path
from revis.tracking.client import TrackingClient

pytestmark = pytest.mark.integration


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("REVIS_AGENT_IDLE_S", "3")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    _mlflow(uri).search_experiments()  # the store's tables first: the test polls it while the agent writes
    return uri


def _mlflow(uri):
    from revis.tracking.store import mlflow_client

    return mlflow_client(uri)


def _runs(uri):
    experiment = _mlflow(uri).get_experiment_by_name("demo")
    return _mlflow(uri).search_runs([experiment.experiment_id]) if experiment else []


def _stage_until_the_agent_has_the_run(uri, tmp_path):
    client = TrackingClient(uri)
    client.start_run(
        experiment="demo",
        artifact_location=(tmp_path / "artifacts").as_uri(),
        run_name="demo-train",
        start_time=int(time.time() * 1000),
        tags={"revis.pid": str(os.getpid()), "revis.host": socket.gethostname()},
    )
    client.log_metrics({"a": 1.0})
    deadline = time.time() + 60
    while time.time() < deadline and not any("a" in r.data.metrics for r in _runs(uri)):
        time.sleep(0.3)
    assert client.agent_pid is not None and _runs(uri)[0].info.status == "RUNNING"
    return client


def _finish(client):
    client.log_metrics({"b": 2.0})
    time.sleep(0.3)
    client.log_metrics({"c": 3.0})
    started = time.perf_counter()
    code = client.close("FINISHED")
    return code, time.perf_counter() - started


def test_a_killed_agent_is_replaced_and_the_run_recorded_finished_with_all_metrics(store, tmp_path, capsys):
    client = _stage_until_the_agent_has_the_run(store, tmp_path)
    shared = client.agent_pid
    os.kill(shared, signal.SIGKILL)
    code, seconds = _finish(client)
    assert code == 0 and client.outcome == "recorded" and client.agent_pid != shared
    assert "is gone" in client.failures[0] or "broke" in client.failures[0] or "hung up" in client.failures[0]
    (run,) = _runs(store)  # the partial record of the dead agent is deleted, not left RUNNING
    assert run.info.status == "FINISHED" and set(run.data.metrics) == {"a", "b", "c"}
    assert run.data.tags["revis.attempt"] == "1" and run.data.tags["revis.run_key"] == client.run_key
    print(f"agent killed: close() took {seconds:.1f} s")


def test_a_stopped_agent_costs_seconds_and_the_run_is_recorded_by_a_private_agent(store, tmp_path, monkeypatch):
    client = _stage_until_the_agent_has_the_run(store, tmp_path)
    shared = client.agent_pid
    os.kill(shared, signal.SIGSTOP)
    try:
        code, seconds = _finish(client)
    finally:
        os.kill(shared, signal.SIGCONT)
    assert code == 0 and client.outcome == "recorded" and "is stopped" in client.failures[0]
    assert seconds < 60  # was AGENT_WAIT_SECONDS = 120 s; the stopped agent itself costs STOPPED_SECONDS
    time.sleep(3)  # the resumed agent reads the events it had, then the hang-up: it must not add a run
    (run,) = _runs(store)
    assert run.info.status == "FINISHED" and set(run.data.metrics) == {"a", "b", "c"}
    print(f"agent stopped: close() took {seconds:.1f} s")


def test_the_stage_says_what_happened_not_see_messages_above(store, tmp_path, capsys, monkeypatch):
    client = _stage_until_the_agent_has_the_run(store, tmp_path)
    monkeypatch.setattr(tracking, "_active", client)
    os.kill(client.agent_pid, signal.SIGKILL)
    tracking.close_client("FINISHED")
    err = capsys.readouterr().err
    assert "run recorded FINISHED by another MLflow agent after" in err and "see its messages above" not in err


def test_an_idle_agent_leaves_no_socket_lock_or_empty_log(store, tmp_path):
    client = TrackingClient(store)
    client.start_run(experiment="demo", run_name="demo-train", start_time=int(time.time() * 1000), tags={})
    assert client.close("FINISHED") == 0
    path = socket_path(store)
    deadline = time.time() + 30
    while time.time() < deadline and os.path.exists(path + ".lock"):
        time.sleep(0.5)
    assert not any(os.path.exists(path + suffix) for suffix in ("", ".lock", ".log"))
