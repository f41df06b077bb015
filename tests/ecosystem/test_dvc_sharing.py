"""Sharing results without recomputing, and DVC's views of them, in tiny git + DVC copies of the project.

One origin clone runs the world -> baseline chain (and the scoreboard over the committed metrics)
with every stage pointed at a shared MLflow server (``MLFLOW_TRACKING_URI``) and pushes its
cache to a DVC remote (a local folder); a fresh clone pulls and reproduces nothing. In the
origin, ``dvc plots``, ``dvc exp show`` and CI's ``dvc metrics diff`` work across an experiment.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from revis.tracking.links import experiments

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
CHAIN = {"check-params", "world-ingest", "baseline-train", "baseline-evaluate"}
CURVE = "reports/baseline/curves/train_loss.json"


def _env(root: Path, **extra: str) -> dict[str, str]:
    """A fresh shell (the environment is not activated; ./run-stage finds .venv by itself).

    PYTHONPATH is the clone's own src: the shared environment's editable install would otherwise
    run the code of the checkout it was installed from, not the code DVC hashed in this clone.
    """
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != BIN)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "MLFLOW_TRACKING_URI")}
    env.update(PATH=path, PYTHONPATH=str(root / "src"), REVIS_MLFLOW_DB=str(root.parent / "mlflow.db"))
    return {**env, **extra}


def run(root: Path, *argv: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(list(argv), cwd=root, capture_output=True, text=True, timeout=3600, env=env or _env(root))
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def dvc(root: Path, *args: str, **kwargs: Any) -> subprocess.CompletedProcess:
    return run(root, str(BIN / "dvc"), *args, **kwargs)


def git(root: Path, *args: str) -> str:
    return run(root, "git", *args).stdout


def ran_stages(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


@pytest.fixture(scope="module")
def shared(git_dvc_project, mlflow_server, tmp_path_factory, repo_root) -> SimpleNamespace:
    """The origin after ``dvc repro`` of the baseline chain and the scoreboard, committed and pushed."""
    server_dir = tmp_path_factory.mktemp("mlflow-server")
    url = mlflow_server(f"sqlite:///{(server_dir / 'server.db').as_posix()}", artifacts=server_dir / "artifacts")
    root = git_dvc_project("origin")
    (root / ".venv").symlink_to(BIN.parent)  # as `make install` leaves it; ./run-stage uses it
    with (root / ".gitignore").open("a") as ignore:
        ignore.write("/.venv\n")
    for metrics in repo_root.glob("reports/*/metrics.json"):  # the scoreboard reads every paper's
        (root / metrics.relative_to(repo_root)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(metrics, root / metrics.relative_to(repo_root))
    remote = tmp_path_factory.mktemp("dvc-remote")
    dvc(root, "remote", "add", "--default", "shared", str(remote))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "a shared DVC remote, the committed metrics")
    env = _env(root, MLFLOW_TRACKING_URI=url)
    first = dvc(root, "repro", "baseline-evaluate", env=env)
    assert ran_stages(first.stdout) == CHAIN
    dvc(root, "repro", "--single-item", "scoreboard-report", env=env)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "results: dvc.lock, metrics, curves")
    dvc(root, "push")
    return SimpleNamespace(root=root, url=url, remote=remote, server_dir=server_dir, env=env)


def test_every_stage_records_its_run_on_the_shared_tracking_server(shared, rest):
    api = f"{shared.url}/api/2.0/mlflow"
    found = dict((name, i) for i, name in experiments(shared.url))
    assert set(found) == {"world", "baseline", "scoreboard"}
    runs = rest(f"{api}/runs/search", {"experiment_ids": list(found.values()), "max_results": 100})["runs"]
    by_stage = {_tags(r)["dvc_stage"]: r for r in runs}
    assert set(by_stage) == CHAIN - {"check-params"} | {"scoreboard-report"}
    assert {r["info"]["status"] for r in runs} == {"FINISHED"}
    evaluate = by_stage["baseline-evaluate"]
    assert _tags(evaluate)["git_dirty"] == "false"  # what `dvc repro` wrote does not count
    assert _tags(evaluate)["mlflow.source.git.commit"] == git(shared.root, "rev-parse", "HEAD~1").strip()
    run_id = evaluate["info"]["run_id"]
    assert evaluate["info"]["artifact_uri"].startswith("mlflow-artifacts:/")  # uploaded through the server
    listed = rest(f"{api}/artifacts/list?run_id={run_id}&path=plots")["files"]
    assert [f["path"] for f in listed] == ["plots/training_curves.png"]
    with urllib.request.urlopen(
        f"{shared.url}/get-artifact?path=plots/training_curves.png&run_uuid={run_id}", timeout=60
    ) as response:
        assert response.read() == (shared.root / "reports/baseline/plots/training_curves.png").read_bytes()
    assert list((shared.server_dir / "artifacts").rglob("training_curves.png"))  # stored by the server
    board = by_stage["scoreboard-report"]  # the project's headline result is in MLflow too
    assert "headline" in {m["key"].split(".")[0] for m in _metrics(board)}
    listed = rest(f"{api}/artifacts/list?run_id={board['info']['run_id']}")["files"]
    assert {"SCOREBOARD.md", "verdicts.json"} <= {f["path"] for f in listed}
    assert not (shared.root.parent / "mlflow.db").exists() and not (shared.root / "mlartifacts").exists()


def test_a_fresh_clone_pulls_the_results_and_reproduces_nothing(shared, tmp_path):
    clone = tmp_path / "clone"
    run(tmp_path, "git", "clone", "-q", str(shared.root), str(clone))
    (clone / ".venv").symlink_to(BIN.parent)
    assert not (clone / "data").exists()
    dvc(clone, "pull", "--with-deps", "baseline-evaluate")  # the chain that ran (a full repro: plain `dvc pull`)
    for output in (
        "data/06_models/baseline/models.pt",
        "data/01_raw/digits.npz",
        "reports/baseline/plots/training_curves.png",
    ):
        assert (clone / output).read_bytes() == (shared.root / output).read_bytes(), output
    repro = dvc(clone, "repro", "baseline-evaluate")
    assert ran_stages(repro.stdout) == {"check-params"}  # always_changed by design; nothing else runs
    status = json.loads(dvc(clone, "status", "--with-deps", "baseline-evaluate", "--json").stdout or "{}")
    assert set(status) <= {"check-params"}
    assert git(clone, "status", "--porcelain") == ""  # not even the git-tracked reports changed
    assert not (clone.parent / "mlflow.db").exists()  # nothing ran, so nothing was tracked


def test_dvc_plots_exp_show_and_metrics_diff_across_an_experiment(shared, rest):
    root = shared.root
    picture = "reports/baseline/plots/training_curves.png"
    shown = json.loads(dvc(root, "plots", "show", "--json").stdout)
    assert _missing(shown) <= NOT_RUN, shown["errors"]  # only the plots of stages that never ran
    curve = shown["data"][CURVE][0]
    assert curve["type"] == "vega"
    spec = curve["content"]
    values = spec["data"]["values"]
    assert {v["field"] for v in values} == {"shapes", "digits"} and {v["epoch"] for v in values} == {1}
    images = shown["data"][picture]
    assert images[0]["type"] == "image"

    exp = dvc(root, "exp", "run", "--name", "lr05", "-S", "baseline.lr=0.05", "baseline-evaluate", env=shared.env)
    assert ran_stages(exp.stdout) == {"check-params", "baseline-train", "baseline-evaluate"}
    diff = json.loads(dvc(root, "plots", "diff", "HEAD", "lr05", "--json").stdout)
    assert _missing(diff) <= NOT_RUN, diff["errors"]
    by_rev = {}
    for value in diff["data"][CURVE][0]["content"]["data"]["values"]:
        by_rev.setdefault(value["rev"], {})[value["field"]] = value["dvc_inferred_y_value"]
    assert set(by_rev) == {"HEAD", "lr05"} and by_rev["HEAD"] != by_rev["lr05"]  # one line per (rev, dataset)

    table = json.loads(dvc(root, "exp", "show", "--json").stdout)
    head = next(row for row in table if row["rev"] != "workspace")
    verdicts = head["data"]["metrics"]["reports/verdicts.json"]["data"]
    assert set(verdicts) >= {"headline", "per_pipeline"} and verdicts["headline"]  # the headline columns
    experiment = head["experiments"][0]["revs"][0]
    assert experiment["name"] == "lr05"
    assert experiment["data"]["params"]["params.yaml"]["data"]["baseline"]["lr"] == 0.05

    # the DVC experiment is on the MLflow runs it made: DVC_EXP_NAME / DVC_EXP_BASELINE_REV
    api = f"{shared.url}/api/2.0/mlflow"
    baseline = dict((name, i) for i, name in experiments(shared.url))["baseline"]
    runs = rest(f"{api}/runs/search", {"experiment_ids": [baseline], "filter": "tags.dvc_exp = 'lr05'"})["runs"]
    assert sorted(_tags(r)["dvc_stage"] for r in runs) == ["baseline-evaluate", "baseline-train"]
    assert {_tags(r)["dvc_exp_baseline"] for r in runs} == {git(root, "rev-parse", "HEAD").strip()}
    assert {_params(r)["baseline.lr"] for r in runs} == {"0.05"}

    # CI's line: the workspace (the experiment's results) against the committed metrics
    ci = dvc(root, "metrics", "diff", "HEAD", "--all")
    assert "reports/baseline/metrics.json" in ci.stdout and "reports/verdicts.json" in ci.stdout
    changed = json.loads(dvc(root, "metrics", "diff", "HEAD", "--json").stdout)
    assert "reports/baseline/metrics.json" in changed  # lr changed the baseline's numbers


# papers whose stages this test never runs: every pipeline of dvc.yaml but the baseline chain
NOT_RUN = {
    stage.split("-")[0] for stage in yaml.safe_load((Path(__file__).parents[2] / "dvc.yaml").read_text())["stages"]
} - {"check", "world", "baseline", "scoreboard"}


def _missing(plots: dict[str, Any]) -> set[str]:
    """The papers whose plot files DVC could not find (stages this test never ran)."""
    return {(error.get("source") or error["name"]).split("/")[1] for error in plots.get("errors") or []}


def _tags(run: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t["value"] for t in run["data"].get("tags", [])}


def _params(run: dict[str, Any]) -> dict[str, str]:
    return {p["key"]: p["value"] for p in run["data"].get("params", [])}


def _metrics(run: dict[str, Any]) -> list[dict[str, Any]]:
    return run["data"].get("metrics", [])
