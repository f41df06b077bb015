"""Shared fixtures: tiny parameters, throw-away copies of the project, Kedro runs (in memory or in a session).

Tests never write into the repository's own data/, reports/ or MLflow store: tests that run
stages do so in a copy of the project under a temporary folder with its own store.

Fixtures (use them by name; nothing is imported from this file):

- ``repo_root``: the repository.
- ``tiny_params``: ``{section: overrides}`` from ``tests/tiny/<pipeline>.yaml`` -- the small sizes
  every project copy runs with (one file per pipeline, so pipelines never edit a shared dict).
- ``project_factory(name, overrides=None, with_metrics=False, extra=None)``: a copy of the project with
  ``overrides`` (default: the tiny parameters) and then ``extra`` merged over params.yaml.
- ``kedro_run(root, pipeline, tags=None, params=None, node_names=None)``: a KedroSession run, as
  ``kedro run --env=base`` does it (hooks, catalog, MLflow store of the copy).
- ``run_in_memory(pipeline, inputs, params, tags=None)``: the pipeline's nodes over a catalog of
  in-memory datasets with validated, typed parameters (Kedro's own starters test pipelines
  this way); returns every output.
- ``cli_env``: environment for subprocesses (the test environment's ``bin`` first on PATH).
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

import revis  # noqa: F401  (pins torch's CPU kernels before any torch op runs: see revis/__init__.py)

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
    "run-stage",
]


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _tiny() -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path in sorted((REPO / "tests" / "tiny").glob("*.yaml")):
        merged = deep_merge(merged, yaml.safe_load(path.read_text()) or {})
    return merged


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def tiny_params() -> dict[str, Any]:
    return _tiny()


def make_project_copy(
    target: Path, overrides: dict[str, Any] | None = None, with_metrics: bool = False, extra: dict | None = None
) -> Path:
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
    merged = deep_merge(deep_merge(params, overrides if overrides is not None else _tiny()), extra or {})
    (target / "params.yaml").write_text(yaml.safe_dump(merged, sort_keys=False))
    return target


@pytest.fixture(scope="session")
def project_factory(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``project_factory(name, overrides=None, with_metrics=False, extra=None)``: a project copy in its own folder."""

    def make(
        name: str = "project",
        overrides: dict[str, Any] | None = None,
        with_metrics: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> Path:
        return make_project_copy(tmp_path_factory.mktemp(name) / "project", overrides, with_metrics, extra)

    return make


@pytest.fixture
def project(project_factory: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A tiny copy of the project with its own MLflow store; the cwd is its root."""
    root = project_factory("project")
    monkeypatch.setenv("REVIS_MLFLOW_DB", str(root.parent / "mlflow.db"))
    monkeypatch.chdir(root)
    yield root


def _kedro_run(
    root: Path,
    pipeline: str,
    tags: list[str] | None = None,
    params: dict | None = None,
    node_names: list[str] | None = None,
) -> None:
    """Run a pipeline in-process through a KedroSession, as `kedro run --env=base` would."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(root)
    with KedroSession.create(project_path=root, env="base", runtime_params=params) as session:
        session.run(pipeline_names=[pipeline], tags=tags, node_names=node_names)


@pytest.fixture(scope="session")
def kedro_run() -> Callable[..., None]:
    return _kedro_run


def typed_params(pipeline: Any, raw: dict[str, Any]) -> dict[str, Any]:
    """``params:<key>`` entries for every key of ``raw``, validated into the nodes' declared types."""
    from kedro.validation.parameter_validator import ParameterValidator

    validated = ParameterValidator({"p": pipeline}).validate_raw_params(copy.deepcopy(raw))
    entries: dict[str, Any] = {}

    def add(name: str, value: Any) -> None:
        entries[f"params:{name}"] = value
        fields = value if isinstance(value, dict) else getattr(value, "__dict__", None)
        if isinstance(value, dict) or hasattr(type(value), "model_fields"):
            for key, sub in (fields or {}).items():
                add(f"{name}.{key}", sub)

    for key, value in validated.items():
        add(key, value)
    return entries


def _run_in_memory(
    pipeline_name: str, inputs: dict[str, Any], params: dict[str, Any], tags: list[str] | None = None
) -> dict[str, Any]:
    """The registered pipeline's nodes (optionally only ``tags``) over in-memory datasets."""
    from kedro.framework.project import find_pipelines, pipelines
    from kedro.io import DataCatalog, MemoryDataset
    from kedro.runner import SequentialRunner

    # an earlier in-process `kedro run --pipelines=x` (kedro_run) leaves its filter on Kedro's global registry, and
    # find_pipelines prefers it to `pipelines_to_find`: clear it, or this finds only x
    pipelines.set_requested(None)
    pipe = find_pipelines(raise_errors=True, pipelines_to_find=[pipeline_name])[pipeline_name]
    if tags:
        pipe = pipe.only_nodes_with_tags(*tags)

    class Kept(MemoryDataset):  # the runner releases intermediates after use; tests read them afterwards
        def _release(self) -> None:
            pass

    catalog = DataCatalog()
    for name, value in {**typed_params(pipe, params), **inputs}.items():
        catalog[name] = Kept(value, copy_mode="assign")
    for name in pipe.all_outputs():
        catalog[name] = Kept(copy_mode="assign")
    SequentialRunner().run(pipe, catalog)
    return {name: catalog.load(name) for name in pipe.all_outputs()}


@pytest.fixture(scope="session")
def run_in_memory() -> Callable[..., dict[str, Any]]:
    from kedro.framework.project import configure_project

    configure_project("revis")
    return _run_in_memory


@pytest.fixture(scope="session")
def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="session")
def git_dvc_project(project_factory: Callable[..., Path], cli_env: dict[str, str]) -> Callable[..., Path]:
    """``git_dvc_project(name, overrides=None)``: a tiny project copy that is a git + DVC repository."""

    def make(name: str = "dvcproject", overrides: dict[str, Any] | None = None) -> Path:
        root = project_factory(name, overrides)
        git(root, "init", "-q", "-b", "main")
        git(root, "config", "user.email", "tests@revis.invalid")
        git(root, "config", "user.name", "revis tests")
        subprocess.run([str(BIN / "dvc"), "init", "-q"], cwd=root, check=True, env=cli_env)
        subprocess.run([str(BIN / "dvc"), "config", "core.analytics", "false"], cwd=root, check=True, env=cli_env)
        # as the project's own .gitignore: the stages import the copy's src/ (run-stage), which writes __pycache__
        (root / ".gitignore").write_text("/data/\n/mlflow.db\n/mlartifacts/\n__pycache__/\n")
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "project copy")
        return root

    return make


# --- video world, vl, hlclip (paper/hlclip) -------------------------------------------------------


@pytest.fixture(scope="session")
def tiny_text_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 3-layer BERT with the packaged MiniLM tokenizer (offline): ``vl.encoder.text_path`` in fast tests."""
    from revis.vl.tiny_models import write_tiny_bert

    return write_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(scope="session")
def tiny_clip_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random CLIPModel (+ tokenizer, image processor) saved to a folder, as a local CLIP would be."""
    from revis.vl.tiny_models import write_tiny_clip

    return write_tiny_clip(tmp_path_factory.mktemp("tiny_clip"))
