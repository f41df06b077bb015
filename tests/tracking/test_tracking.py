"""Stages as MLflow runs through the companion agent: events, headline numbers, and how runs end."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest
import yaml

from revis.reporting.summary import mean_std
from revis.tracking.client import TrackingClient

pytestmark = pytest.mark.integration


@pytest.fixture
def store(tmp_path):
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def _client(uri):
    from revis.tracking.store import mlflow_client

    return mlflow_client(uri)  # polls while the agent may create the store: under the same creation lock


def _start(client, tmp_path, name="demo-evaluate"):
    client.start_run(
        experiment="demo",
        artifact_location=(tmp_path / "artifacts").as_uri(),
        experiment_tags={"mlflow.experimentKind": "custom_model_development"},
        run_name=name,
        start_time=int(time.time() * 1000),
        tags={"paper": "demo", "dvc_stage": name, "revis.pid": str(os.getpid()), "revis.host": socket.gethostname()},
    )


def test_a_stage_run_records_params_curves_artifacts_and_headline_numbers(store, tmp_path):
    metrics = {"ours": mean_std([0.8, 0.9, 0.85]), "random": mean_std([0.5, 0.6, 0.5]), "scale": "tiny"}
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    claims = {
        "paper": "demo",
        "title": "demo",
        "claims": [
            {
                "id": "beats_random",
                "kind": "paper",
                "claim": "ours beats random",
                "compare": {"metric": "ours", "baseline": "random", "test": "paired_t"},
            }
        ],
    }
    (tmp_path / "claims.yaml").write_text(yaml.safe_dump(claims))
    (tmp_path / "curve.png").write_bytes(b"\x89PNG fake")
    client = TrackingClient(store)
    _start(client, tmp_path)
    client.log_params({"demo.lr": 0.1, "demo.seeds": [0, 1, 2]})
    for step in range(1, 6):
        client.log_curve({"teacher.loss": 1.0 / step}, step)
    client.log_artifact(tmp_path / "curve.png", "plots")
    client.log_metrics_file(tmp_path / "metrics.json", tmp_path / "claims.yaml")
    assert client.close("FINISHED") == 0

    mlflow = _client(store)
    (experiment,) = [e for e in mlflow.search_experiments() if e.name == "demo"]
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    assert "Default" not in {e.name for e in mlflow.search_experiments()}  # the store's empty default is hidden
    (run,) = mlflow.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == "demo-evaluate"
    assert run.data.params == {"demo.lr": "0.1", "demo.seeds": "[0, 1, 2]"}
    history = mlflow.get_metric_history(run.info.run_id, "teacher.loss")
    assert [m.step for m in history] == [1, 2, 3, 4, 5] and history[-1].value == pytest.approx(0.2)
    assert run.data.metrics["headline/beats_random"] == pytest.approx(0.85 - 0.5333333)
    assert run.data.metrics["verdicts/holds"] == 1
    assert "ours.mean" in run.data.metrics and "ours.n" not in run.data.metrics  # counts stay out of metrics
    assert "| beats_random | holds |" in run.data.tags["mlflow.note.content"]  # the run page's description
    assert "revis.pid" not in run.data.tags and "revis.host" not in run.data.tags  # dropped once the run ended
    artifacts = {a.path for a in mlflow.list_artifacts(run.info.run_id)} | {
        a.path for a in mlflow.list_artifacts(run.info.run_id, "plots")
    }
    assert {"metrics.json", "metrics_table.csv", "plots/curve.png"} <= artifacts


STAGE = textwrap.dedent(
    """
    import os, signal, socket, sys, time
    from revis.tracking.client import TrackingClient
    client = TrackingClient(sys.argv[1])
    client.start_run(experiment="demo", run_name="demo-train", start_time=int(time.time() * 1000),
                     tags={"revis.pid": str(os.getpid()), "revis.host": socket.gethostname()})
    client.log_metrics({"x": 1.0})
    print("started", flush=True)
    time.sleep(120)
    """
)


def _run_status(store, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            runs = _client(store).search_runs([e.experiment_id for e in _client(store).search_experiments()])
        except Exception:
            runs = []
        if runs and runs[0].info.status != "RUNNING":
            return runs[0]
        time.sleep(1)
    return runs[0] if runs else None


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_a_stage_that_dies_is_recorded_killed_not_running_or_finished(store, tmp_path, how):
    proc = subprocess.Popen([sys.executable, "-c", STAGE, store], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "started"
    time.sleep(4)  # let the agent open the run
    proc.send_signal(how)  # the stage only; its agent outlives it and sees stdin close
    proc.wait(timeout=30)
    run = _run_status(store)
    assert run is not None and run.info.status == "KILLED"
    assert "ended without closing" in run.data.tags["revis.end"]


def test_runs_left_running_by_a_dead_process_are_closed_as_failed(store, tmp_path):
    mlflow = _client(store)
    experiment = mlflow.create_experiment("demo")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = mlflow.create_run(experiment, tags={"revis.pid": str(dead.pid), "revis.host": socket.gethostname()})
    alive = mlflow.create_run(experiment, tags={"revis.pid": str(os.getpid()), "revis.host": socket.gethostname()})
    client = TrackingClient(store)
    _start(client, tmp_path, "demo-evaluate")
    assert client.close("FINISHED") == 0
    assert mlflow.get_run(orphan.info.run_id).info.status == "FAILED"
    assert mlflow.get_run(alive.info.run_id).info.status == "RUNNING"  # a live process keeps its run


def test_the_stages_of_a_repro_share_one_agent_that_exits_when_idle(store, tmp_path, monkeypatch):
    from revis.tracking.agent import socket_path

    monkeypatch.setenv("REVIS_AGENT_IDLE_S", "3")

    def agents():
        found = subprocess.run(["pgrep", "-f", f"revis.tracking.agent --serve {store}"], capture_output=True, text=True)
        return set(found.stdout.split())

    pids = []
    for name in ("demo-train", "demo-evaluate"):
        client = TrackingClient(store)
        _start(client, tmp_path, name)
        client.log_metrics({"timing.stage_s": 1.0})
        assert client.close("FINISHED") == 0  # the agent answered that it recorded the end
        pids.append(agents())
    assert len(pids[0]) == 1 and pids[0] == pids[1]  # the second stage found the first one's agent
    runs = _client(store).search_runs([_client(store).get_experiment_by_name("demo").experiment_id])
    assert sorted(r.info.status for r in runs) == ["FINISHED", "FINISHED"]
    deadline = time.time() + 30
    while agents() and time.time() < deadline:
        time.sleep(0.5)
    assert not agents() and not os.path.exists(socket_path(store))  # idle: gone, its socket too
