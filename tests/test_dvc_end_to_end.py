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
    """A fresh shell: the project's environment is NOT on PATH (./run-stage finds it by itself)."""
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != BIN)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    return {**env, "PATH": path, "REVIS_MLFLOW_DB": str(root.parent / "mlflow.db"), **extra}


def dvc(root, *args, check=True, timeout=900):
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
    root = git_dvc_project("dvc")
    (root / ".venv").symlink_to(BIN.parent)  # as `make install` leaves it; ./run-stage uses it
    return root


CHAIN = "baseline-evaluate"  # check-params -> world-ingest -> baseline-train -> baseline-evaluate


def changed_stages(root, *targets: str) -> set[str]:
    dvc(root, "repro", "-s", "check-params")  # code fingerprints first, as every `dvc repro` does
    status = json.loads(dvc(root, "status", "--json", "--with-deps", *targets).stdout or "{}")
    return set(status) - {"check-params"}  # always changed by design


def _code(stage: dict) -> list[str]:
    return (stage.get("meta") or {}).get("code", [])


def touch_module(root, relative: str) -> None:
    path = root / relative
    path.write_text(path.read_text() + "\n# touched by a test\n")


def test_incremental_repro_precise_invalidation_and_dvc_exp_params(dvc_project):
    # one chain end to end (every paper's stages at tiny sizes would take most of CI's hour; the
    # generated deps of every stage are checked in tests/test_dvc_stages.py)
    root = dvc_project
    first = dvc(root, "repro", CHAIN)  # a fresh shell: dvc's own path, nothing activated
    chain = {"check-params", "world-ingest", "baseline-train", "baseline-evaluate"}
    assert ran_stages(first.stdout) == chain
    assert changed_stages(root, CHAIN) == set()

    started = time.perf_counter()
    noop = dvc(root, "repro", CHAIN)
    elapsed = time.perf_counter() - started
    assert ran_stages(noop.stdout) == {"check-params"}  # only the always-changed validation
    print(f"no-op dvc repro: {elapsed:.2f} s")

    # precise invalidation: an evaluate-only module reruns only evaluate stages; a shared library
    # module reruns every stage that imports it, and nothing else
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    touch_module(root, "src/revis/pipelines/baseline/nodes_evaluate.py")
    assert changed_stages(root, CHAIN) == {"baseline-evaluate"}
    touch_module(root, "src/revis/training/trainer.py")
    importers = {name for name, stage in stages.items() if "src/revis/training/trainer.py" in _code(stage)}
    assert {"baseline-train", "baseline-evaluate"} <= importers and "world-ingest" not in importers
    assert changed_stages(root, CHAIN) == importers & chain
    dvc(root, "repro", CHAIN)
    assert changed_stages(root, CHAIN) == set()

    params = yaml.safe_load((root / "params.yaml").read_text())
    params["baseline"]["lr"] = 0.05
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    changed = dvc(root, "repro", CHAIN)
    ran = ran_stages(changed.stdout)
    assert ran == {"check-params", "baseline-train", "baseline-evaluate"}

    dvc(root, "exp", "run", "-S", "baseline.epochs=2", CHAIN)
    histories = json.loads((root / "data/06_models/baseline/histories.json").read_text())
    assert {len(h["loss"]) for h in histories.values()} == {2}  # the node saw the -S value


def test_bad_parameters_cost_nothing_even_when_no_stage_would_rerun(dvc_project):
    root = dvc_project
    dvc(root, "repro", "world-ingest")
    metrics = (root / "reports/world/metrics.json").read_text()
    raw = (root / "data/01_raw/digits.npz").read_bytes()
    clean = (root / "params.yaml").read_text()

    params = yaml.safe_load(clean)
    params["world"]["shapes"]["n_train"] = 0
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    failed = dvc(root, "repro", check=False)
    assert failed.returncode != 0 and "'world.shapes.n_train'" in failed.stdout + failed.stderr
    assert (root / "reports/world/metrics.json").read_text() == metrics  # nothing was deleted
    assert (root / "data/01_raw/digits.npz").read_bytes() == raw

    for typo in ({"baselines": {"epochs": 3}}, {"baseline": {**params["baseline"], "dropout": 0.5}}):
        (root / "params.yaml").write_text(yaml.safe_dump({**yaml.safe_load(clean), **typo}))
        result = dvc(root, "repro", check=False)
        assert result.returncode != 0 and "unknown parameter" in result.stdout + result.stderr

    (root / "params.yaml").write_text(clean)
    exp = dvc(root, "exp", "run", "-S", "+baseline.dropout=0.5", CHAIN, check=False)
    assert exp.returncode != 0 and "'baseline.dropout': unknown parameter" in exp.stdout + exp.stderr
    assert "git checkout -- params.yaml" in exp.stdout + exp.stderr


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
    dvc(root, "repro", "world-ingest")
    assert changed_stages(root, "world-ingest") == set()
    assert not [p for p in (root / "data/01_raw").rglob(".*tmp-*")]  # stale temporaries were cleaned up
