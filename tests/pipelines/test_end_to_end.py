"""The tiny project run through KedroSession: outputs, MLflow tracking, the MLflow server's REST API."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import pytest

from revis.datasets.voc import read_voc_folder

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ran_project(project_factory, kedro_run):
    root = project_factory("e2e", with_metrics=True)
    store = root.parent / "mlflow.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REVIS_MLFLOW_DB", str(store))
        patch.chdir(root)
        for pipeline, tags in [
            ("world", None),
            ("baseline", ["train"]),
            ("baseline", ["evaluate"]),
            ("scoreboard", None),
        ]:
            kedro_run(root, pipeline, tags)
        yield root, store


def test_outputs_land_in_real_formats(ran_project):
    root, _ = ran_project
    assert (root / "data/01_raw/shapes/data_batch_1").is_file()
    voc = read_voc_folder(root / "data/01_raw/detection/VOCmini")
    assert voc.split("train") and voc.split("test") and len(voc.class_names) == 5
    for picture in [
        "world/plots/shapes_samples.png",
        "world/plots/detection_samples.png",
        "baseline/plots/training_curves.png",
    ]:
        assert (root / "reports" / picture).stat().st_size > 10_000
    metrics = json.loads((root / "reports/baseline/metrics.json").read_text())
    assert set(metrics) >= {"shapes", "digits", "scale"}
    assert 0 <= metrics["digits"]["test_accuracy"]["mean"] <= 1 and metrics["digits"]["test_accuracy"]["n"] == 1
    board = (root / "reports/SCOREBOARD.md").read_text()
    assert "## baseline" in board and "## world" in board


def test_mlflow_runs_one_experiment_per_paper_with_tags_params_metrics(ran_project):
    _, store = ran_project
    client = mlflow.MlflowClient(f"sqlite:///{store}")
    experiments = {e.name: e for e in client.search_experiments()}
    assert {"world", "baseline", "scoreboard"} <= set(experiments)
    runs = client.search_runs([experiments["baseline"].experiment_id])
    by_stage = {r.data.tags["dvc_stage"]: r for r in runs}
    assert set(by_stage) == {"baseline-train", "baseline-evaluate"}
    evaluate = by_stage["baseline-evaluate"]
    assert evaluate.data.tags["paper"] == "baseline" and evaluate.data.tags["mlflow.source.git.commit"]
    # the evaluate run carries all of the paper's parameters and metrics
    assert {"baseline.epochs", "baseline.lr", "baseline.model.width", "baseline.seeds"} <= set(evaluate.data.params)
    assert evaluate.data.params["baseline.epochs"] == "1"
    assert "shapes.test_accuracy.mean" in evaluate.data.metrics
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert set(evaluate.data.tags) >= {"dvc_stage", "paper", "stage_kind", "params_hash", "git_dirty"}
    assert not {"runner", "tags", "run_id", "kedro_run_id"} & set(evaluate.data.tags)  # no raw Kedro tags
    train = by_stage["baseline-train"]
    curve = client.get_metric_history(train.info.run_id, "baseline/digits/seed0/loss")  # revis.curves' scheme
    assert [m.step for m in curve] == [1]  # one epoch at tiny sizes, logged per step
    timings = {k for k in train.data.metrics if k.startswith("system/timing/")}  # MLflow's "System metrics"
    assert "system/timing/stage_s" in timings and "system/timing/baseline.train_baselines_s" in timings
    assert not any(k.startswith("timing.") for k in train.data.metrics)
    artifacts = {a.path for a in client.list_artifacts(evaluate.info.run_id, "plots")}
    assert artifacts == {"plots/training_curves.png"}
    assert Path(store.parent / "mlartifacts" / "baseline").is_dir()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        url, data=None if body is None else json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_mlflow_server_serves_the_runs_over_rest(ran_project):
    _, store = ran_project
    port = _free_port()
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true")
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{store}",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}/api/2.0/mlflow"
    try:
        for _ in range(120):
            try:
                experiments = _get(f"{base}/experiments/search", {"max_results": 100})["experiments"]
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("mlflow server did not come up: " + server.stderr.read1(4000).decode(errors="replace"))
        baseline = next(e for e in experiments if e["name"] == "baseline")
        runs = _get(
            f"{base}/runs/search",
            {"experiment_ids": [baseline["experiment_id"]], "filter": "tags.dvc_stage = 'baseline-evaluate'"},
        )["runs"]
        assert len(runs) == 1
        params = {p["key"]: p["value"] for p in runs[0]["data"]["params"]}
        metrics = {m["key"]: m["value"] for m in runs[0]["data"]["metrics"]}
        assert params["baseline.epochs"] == "1" and 0 <= metrics["digits.test_accuracy.mean"] <= 1
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
