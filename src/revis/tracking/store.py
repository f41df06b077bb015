"""Where MLflow writes, and the git state every run carries."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from revis.paths import project_root

STORE_ENV = "REVIS_MLFLOW_DB"
_DVC_TEMP = ("/.dvc/tmp/exps/",)


def main_repo_root(project_path: str | os.PathLike) -> Path:
    """The repository a run belongs to, also from a ``dvc exp run --temp`` copy.

    DVC runs temporary experiments in ``<repo>/.dvc/tmp/exps/<name>``; their runs must land
    in the same store as the workspace's, so the copy's path is mapped back to ``<repo>``.
    """
    path = Path(project_path).resolve().as_posix()
    for marker in _DVC_TEMP:
        if marker in path:
            return Path(path.split(marker)[0])
    return Path(path)


def store_path() -> Path:
    """The one SQLite store: ``$REVIS_MLFLOW_DB`` or ``<repo>/mlflow.db`` (absolute)."""
    if os.environ.get(STORE_ENV):
        return Path(os.environ[STORE_ENV]).resolve()
    return main_repo_root(project_root()) / "mlflow.db"


def mlflow_tracking_uri() -> str:
    """The project's own store: ``sqlite:///<repo>/mlflow.db`` (absolute)."""
    return f"sqlite:///{store_path().as_posix()}"


def tracking_uri() -> str:
    """Where runs go: ``MLFLOW_TRACKING_URI`` when set (a shared server), else the project's own store."""
    return os.environ.get("MLFLOW_TRACKING_URI") or mlflow_tracking_uri()


def uses_local_store(uri: str) -> bool:
    """A SQLite or file store on this machine: revis sets each experiment's artifact folder itself."""
    return uri.startswith(("sqlite:", "file:")) or "://" not in uri


def artifact_root() -> Path:
    return store_path().parent / "mlartifacts"


# What a run's results come from. Files that `dvc repro` itself writes (dvc.lock, metrics.json,
# the scoreboard) are not here: a fresh clone that ran `dvc repro` is not "dirty".
SOURCE_PATHS = ("src", "conf", "params.yaml", "claims", "pyproject.toml", "dvc.yaml", "run-stage")


def git_state(path: str | os.PathLike) -> tuple[str, bool]:
    """(commit sha or 'unknown', whether source or configuration differ from it)."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", *SOURCE_PATHS],
            cwd=path,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return sha, bool(status.strip())
    except (OSError, subprocess.CalledProcessError):
        return "unknown", False
