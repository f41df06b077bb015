"""Where MLflow writes, and the git state every run carries."""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

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


def sqlite_file(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (absolute), else None."""
    if not uri.startswith("sqlite:///") or uri.endswith(":memory:"):
        return None
    return Path(uri[len("sqlite:///") :]).resolve()  # sqlite:////abs/path -> /abs/path


@contextmanager
def exclusive_lock(lock_path: str, remove: bool = False) -> Iterator[None]:
    """An exclusive lock file; ``remove``: delete it before unlocking (no file stays behind in the temporary
    folder). A waiter that locked a file removed meanwhile retries on the new one."""
    while True:
        handle = open(lock_path, "a")  # noqa: SIM115 - held across the yield, closed below
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            current = os.stat(lock_path).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(handle.fileno()).st_ino:
            break
        handle.close()  # locked a file that its owner removed meanwhile
    try:
        yield
    finally:
        if remove:
            with suppress(OSError):
                os.unlink(lock_path)
        handle.close()


@contextmanager
def store_creation_lock(uri: str) -> Iterator[None]:
    """Held while a SQLite store is opened for the first time in a process (MLflow creates or migrates it then).

    Two processes creating one SQLite store at once corrupt it for good: MLflow's alembic migrations
    interleave and every later open fails ("table _alembic_tmp_tags already exists", "Online
    migration expected to match one row"; 4 of 6 concurrent creations here). The agent, a reader
    polling while the agent starts, and ``make ui`` all take this lock first. Other URIs: no lock.
    """
    path = sqlite_file(uri)
    if path is None:
        yield
        return
    digest = hashlib.sha1(path.as_posix().encode()).hexdigest()[:16]
    with exclusive_lock(os.path.join(tempfile.gettempdir(), f"revis-mlflow-{os.getuid()}-{digest}.create"), True):
        yield


def mlflow_client(uri: str) -> Any:
    """An ``MlflowClient`` on ``uri`` whose store exists: a new SQLite store is created under ``store_creation_lock``."""
    from mlflow.tracking import MlflowClient

    with store_creation_lock(uri):
        client = MlflowClient(uri)
        client.search_experiments(max_results=1)  # the store is opened (created, migrated) here, not lazily later
    return client


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
