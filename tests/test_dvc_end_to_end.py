"""DVC driving the Kedro stages in a tiny git+DVC copy of the project (slow: real subprocesses)."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from revis.datasets.voc import read_voc_folder

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def _env(root, **extra):
    path = f"{BIN}{os.pathsep}{os.environ['PATH']}"
    return {**os.environ, "PATH": path, "REVIS_MLFLOW_DB": str(root.parent / "mlflow.db"), **extra}


def dvc(root, *args, check=True, timeout=600):
    result = subprocess.run(
        [str(BIN / "dvc"), *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(root),
    )
    if check and result.returncode != 0:
        raise AssertionError(f"dvc {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def ran_stages(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


@pytest.fixture
def dvc_project(git_dvc_project):
    return git_dvc_project("dvc")


def test_incremental_repro_and_dvc_exp_params(dvc_project):
    root = dvc_project
    first = dvc(root, "repro")
    every_stage = set(yaml.safe_load((root / "dvc.yaml").read_text())["stages"])  # every paper's, at TINY sizes
    assert {"world-ingest", "baseline-train", "baseline-evaluate", "scoreboard-report"} <= every_stage
    assert ran_stages(first.stdout) == every_stage
    assert dvc(root, "status").stdout.strip() == "Data and pipelines are up to date."

    started = time.perf_counter()
    noop = dvc(root, "repro")
    elapsed = time.perf_counter() - started
    assert ran_stages(noop.stdout) == set()
    print(f"no-op dvc repro: {elapsed:.2f} s")
    assert elapsed < 5

    params = yaml.safe_load((root / "params.yaml").read_text())
    params["baseline"]["lr"] = 0.05
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    changed = dvc(root, "repro")
    stages = ran_stages(changed.stdout)
    assert {"baseline-train", "baseline-evaluate"} <= stages and "world-ingest" not in stages
    assert stages <= {"baseline-train", "baseline-evaluate", "scoreboard-report"}

    dvc(root, "exp", "run", "-S", "baseline.epochs=2")
    histories = json.loads((root / "data/06_models/baseline/histories.json").read_text())
    assert {len(h["loss"]) for h in histories.values()} == {2}  # the node saw the -S value


def test_killed_stage_leaves_nothing_half_written(dvc_project):
    root = dvc_project
    env = _env(root, PYTHONUNBUFFERED="1", COLUMNS="250")
    proc = subprocess.Popen(
        [str(BIN / "dvc"), "repro", "world-ingest"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    killed_at = None
    for line in proc.stdout:
        if "Saving data to" in line and "world.detection" in line:  # the VOC folder is being written
            os.killpg(proc.pid, signal.SIGKILL)
            killed_at = line
            break
    proc.wait(timeout=60)
    assert killed_at is not None, "the stage finished before it could be killed"
    voc = root / "data/01_raw/detection/VOCmini"
    if voc.exists():  # the rename had already happened: then it must be complete
        data = read_voc_folder(voc)
        assert len(list((voc / "JPEGImages").iterdir())) == len(data.records)
    assert not (root / "reports/world/metrics.json").exists()
    dvc(root, "repro")
    assert dvc(root, "status").stdout.strip() == "Data and pipelines are up to date."
    assert not [p for p in (root / "data/01_raw").rglob(".*tmp-*")]  # stale temporaries were cleaned up
