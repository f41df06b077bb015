"""Shared fixtures: tiny parameters, throw-away copies of the project, in-process Kedro runs.

Tests never write into the repository's own data/, reports/ or MLflow store: end-to-end
tests run in a copy of the project under tmp_path with its own store.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the environment running the tests (dvc, kedro, mlflow)
COPIED = [
    "src",
    "conf/base",
    "conf/logging.yml",
    "claims",
    "params.yaml",
    "pyproject.toml",
    "dvc.yaml",
    ".dvcignore",
    ".telemetry",
]

# Small enough for seconds, large enough that every stage has real work.
_TINY_NET = {"name": "convnet", "width": 4, "depth": 2, "norm": "instancenorm"}
TINY = {
    "world": {
        "shapes": {"n_train": 100, "n_test": 50},
        "detection": {"n_families": 6, "image_size": 64, "radius": [5.0, 10.0]},
    },
    "baseline": {
        "seeds": [0],
        "epochs": 1,
        "model": {"name": "convnet", "width": 8, "depth": 2, "norm": "instancenorm"},
    },
    # dsv/dkkt: default sizes and ipc (the claims name them), tiny networks and step counts
    "dsv": {
        "teacher": {"model": _TINY_NET, "epochs": 1, "batch_size": 64, "lr": 0.05, "weight_decay": 0.005},
        "select": {"steps": 3, "random_seeds": [0, 1]},
        "distill": {"steps": 2},
        "dm": {"iterations": 2, "model": _TINY_NET},
        "retrain": {
            "model": _TINY_NET,
            "epochs": 1,
            "batch_size": 256,
            "lr": 0.05,
            "weight_decay": 0.005,
            "seeds": [0, 1],
        },
    },
    "dkkt": {
        "datasets": ["digits", "shapes"],
        "partial": {"fractions": [0.1, 0.05, 0.01]},  # unordered on purpose
        "distill": {
            "ipc": [5, 1, 200],
            "dm": {"iterations": 2, "model": _TINY_NET},
            "dkkt": {"sweep": [0.5]},
            "dsv": {"steps": 2},
        },
        "train": {"model": _TINY_NET, "epochs": 1, "batch_size": 256, "lr": 0.05, "weight_decay": 0.005, "seeds": [0]},
    },
    "gig": {
        "train": {"model": {"name": "convnet", "width": 6, "depth": 3, "norm": "batchnorm"}, "epochs": 1},
        "features": {"n_images": 40, "per_image": 4},
        "concepts": {"ratio": 1.0, "dictlearn_iter": 2},
        "attribute": {"n_images": 8, "n_steps": 4, "steps_sweep": [2, 8], "sweep_images": 4},
        "evaluate": {
            "targets_per_pair": 2,
            "alignment_images": 12,
            "min_images": 1,
            "atlas_concepts": 2,
            "atlas_crops": 2,
        },
    },
    "biice": {
        "train": {
            "seeds": [0],
            "epochs": 1,
            "batch_size": 32,
            "backbone": {"name": "patch_cnn", "width": 8, "depth": 2, "norm": "instancenorm", "patch": 4},
        },
        "attribute": {
            "deletion_images": 8,
            "deletion_steps": 4,
            "random_orders": 1,
            "picture_images": 2,
            "trace_iterations": 4,
        },
        "evaluate": {"random_maps": 1},
    },
    "csod": {
        "yolo": {"batch": 2},
        "features": {"epochs": 1},
        "select": {
            "methods": ["random", "csod", "k_center"],
            "budgets": [2, 3],
            "seeds": [0],
            "lambda_sweep": {"values": [0.0, 1.0], "budgets": [2]},
        },
        "train": {"steps": 1, "workers": 2},  # 2: the process-pool path runs end to end
    },
}


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def make_project_copy(target: Path, overrides: dict[str, Any] | None = None, with_metrics: bool = False) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for relative in COPIED:
        source = REPO / relative
        if source.is_dir():
            shutil.copytree(source, target / relative, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / relative)
    (target / "conf" / "local").mkdir(parents=True, exist_ok=True)
    # committed metrics pair with the copied claims: the scoreboard reads every pipeline's metrics
    for metrics in REPO.glob("reports/*/metrics.json") if with_metrics else []:
        (target / metrics.relative_to(REPO)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(metrics, target / metrics.relative_to(REPO))
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    (target / "params.yaml").write_text(
        yaml.safe_dump(deep_merge(params, overrides if overrides is not None else TINY))
    )
    return target


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A tiny copy of the project with its own MLflow store; the cwd is its root."""
    root = make_project_copy(tmp_path / "project")
    monkeypatch.setenv("REVIS_MLFLOW_DB", str(tmp_path / "mlflow.db"))
    monkeypatch.chdir(root)
    yield root


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def init_git_dvc(root: Path) -> None:
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "tests@revis.invalid")
    git(root, "config", "user.name", "revis tests")
    subprocess.run([str(BIN / "dvc"), "init", "-q"], cwd=root, check=True)
    subprocess.run([str(BIN / "dvc"), "config", "core.analytics", "false"], cwd=root, check=True)
    (root / ".gitignore").write_text("/data/\n/mlflow.db\n/mlartifacts/\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "project copy")


def run_pipeline(root: Path, pipeline: str, tags: list[str] | None = None, params: dict | None = None) -> None:
    """Run a pipeline in-process through a KedroSession, as `kedro run --env=base` would."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(root)
    with KedroSession.create(project_path=root, env="base", runtime_params=params) as session:
        session.run(pipeline_names=[pipeline], tags=tags)


def subprocess_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra or {})
    return env
