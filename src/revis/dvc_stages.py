"""Derive ``dvc.yaml`` from the Kedro registry and catalog, so the DAG cannot drift.

One DVC stage per (pipeline, stage kind): the nodes of pipeline ``p`` tagged ``kind`` run as
``kedro run --env=base --pipelines=p --tags=kind``. For each stage:

- ``params``: the exact ``params:`` keys its nodes read;
- ``deps``: the files of the catalog datasets it reads, plus its code: the source areas that
  its nodes module and its dataset classes import (followed through ``revis`` imports);
- ``outs``: the files of the catalog datasets it writes. ``reports/<p>/metrics.json`` is a
  DVC metric with ``cache: false`` (git-tracked); other files under ``reports/`` outside
  ``plots/`` are uncached outs (git-tracked); plots and ``data/`` are cached outs.

A dataset that crosses a stage boundary must be persisted in the catalog; a node without
exactly one stage-kind tag is an error. ``kedro dvc-yaml`` writes the file; ``--check``
fails if the committed one differs (a test runs it).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kedro.pipeline import Pipeline

STAGE_KINDS = ("ingest", "features", "select", "distill", "train", "attribute", "evaluate", "report")
HEADER = (
    "# Generated from the Kedro registry and catalog by `kedro dvc-yaml` (src/revis/dvc_stages.py).\n"
    "# Do not edit by hand: change the pipelines or conf/base/catalog*, then regenerate.\n"
)
# Modules whose changes do not change results (wiring, tracking, validation, CLI).
NOT_RESULT_CODE = {
    "revis",
    "revis.settings",
    "revis.hooks",
    "revis.cli",
    "revis.tracking",
    "revis.dvc_stages",
    "revis.pipeline_registry",
    "revis.__main__",
}


class DagError(ValueError):
    """The Kedro registry or catalog cannot be mapped onto DVC stages."""


@dataclass
class Stage:
    pipeline: str
    kind: str
    nodes: list[Any]
    inputs: set[str] = field(default_factory=set)
    outputs: set[str] = field(default_factory=set)

    @property
    def name(self) -> str:
        return f"{self.pipeline}-{self.kind}"


def _filepath(config: dict[str, Any]) -> str | None:
    """The on-disk path of a resolved catalog entry (wrapped datasets included)."""
    if "filepath" in config:
        return str(config["filepath"])
    if "path" in config:
        return str(config["path"])
    inner = config.get("dataset")
    return _filepath(inner) if isinstance(inner, dict) else None


def _module_file(module: str, src: Path) -> Path | None:
    parts = module.split(".")
    for candidate in (src.joinpath(*parts).with_suffix(".py"), src.joinpath(*parts, "__init__.py")):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path) -> set[str]:
    """``revis.*`` modules imported by a source file (absolute imports; revis uses no relative ones)."""
    found: set[str] = set()
    for stmt in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(stmt, ast.Import):
            found |= {alias.name for alias in stmt.names if alias.name.split(".")[0] == "revis"}
        elif isinstance(stmt, ast.ImportFrom) and stmt.module and stmt.module.split(".")[0] == "revis":
            found.add(stmt.module)
            found |= {f"{stmt.module}.{alias.name}" for alias in stmt.names}
    return found


def code_closure(roots: set[str], src: Path) -> set[str]:
    """All ``revis`` modules reachable from ``roots`` by imports (that exist as files)."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        path = _module_file(module, src)
        if path is None:
            continue
        seen.add(module)
        todo += sorted(_imports(path) - seen)
    return seen


def code_deps(modules: set[str], src: Path, root: Path) -> list[str]:
    """Modules -> dependency paths: a pipeline's folder, a library area's folder, or one module file."""
    deps: set[str] = set()
    for module in modules - NOT_RESULT_CODE:
        parts = module.split(".")
        if parts[1] == "pipelines" and len(parts) > 2:
            target = src.joinpath(*parts[:3])
        elif src.joinpath(*parts[:2]).is_dir():
            target = src.joinpath(*parts[:2])
        else:
            target = _module_file(module, src)
        if target is not None:
            deps.add(target.relative_to(root).as_posix())
    return sorted(deps)


def split_stages(pipelines: dict[str, Pipeline]) -> list[Stage]:
    stages: list[Stage] = []
    for name in sorted(p for p in pipelines if p != "__default__"):
        by_kind: dict[str, Stage] = {}
        for node in pipelines[name].nodes:
            kinds = [tag for tag in node.tags if tag in STAGE_KINDS]
            if len(kinds) != 1:
                raise DagError(
                    f"node '{node.name}' of pipeline '{name}' needs exactly one stage-kind tag "
                    f"from {STAGE_KINDS}, has {sorted(node.tags)}"
                )
            stage = by_kind.setdefault(kinds[0], Stage(name, kinds[0], []))
            stage.nodes.append(node)
            stage.inputs |= set(node.inputs)
            stage.outputs |= set(node.outputs)
        for kind in STAGE_KINDS:
            if kind in by_kind:
                stage = by_kind[kind]
                stage.inputs -= stage.outputs
                stages.append(stage)
    return stages


def build_dvc_yaml(pipelines: dict[str, Pipeline], resolve: Any, root: Path) -> dict[str, Any]:
    """``resolve(dataset_name) -> catalog config dict``; returns the dvc.yaml document."""
    src = root / "src"
    stages = split_stages(pipelines)
    producer: dict[str, str] = {}
    for stage in stages:
        for output in stage.outputs:
            if output in producer and producer[output] != stage.name:
                raise DagError(f"dataset '{output}' is written by two stages: {producer[output]}, {stage.name}")
            producer[output] = stage.name
    document: dict[str, Any] = {}
    for stage in stages:
        params = sorted(i[len("params:") :] for i in stage.inputs if i.startswith("params:"))
        if "parameters" in stage.inputs:
            raise DagError(f"stage {stage.name} reads all 'parameters'; read the exact params: keys instead")
        data_deps, outs, metrics, roots = set(), [], [], set()
        for node in stage.nodes:
            roots.add(node.func.__module__)
        for name in sorted(stage.inputs | stage.outputs):
            if name.startswith("params:"):
                continue
            config = resolve(name)
            path = _filepath(config)
            if path is None:
                if name in stage.inputs or any(name in other.inputs for other in stages if other is not stage):
                    raise DagError(
                        f"dataset '{name}' crosses into stage {stage.name} but is not persisted in the "
                        "catalog (add it to conf/base/catalog*)"
                    )
                continue
            for dataset_type in (config.get("type"), (config.get("dataset") or {}).get("type")):
                if isinstance(dataset_type, str) and dataset_type.startswith("revis."):
                    roots.add(dataset_type.rsplit(".", 1)[0])  # the dataset class's code reads/writes the file
            if name in stage.inputs:
                data_deps.add(path)
            elif path.startswith("reports/") and path.endswith("metrics.json"):
                metrics.append({path: {"cache": False}})
            elif path.startswith("reports/") and "/plots/" not in path:
                outs.append({path: {"cache": False}})
            else:
                outs.append(path)
        deps = code_deps(code_closure(roots, src), src, root) + sorted(data_deps)
        entry: dict[str, Any] = {"cmd": f"kedro run --env=base --pipelines={stage.pipeline} --tags={stage.kind}"}
        entry["deps"] = deps
        if params:
            entry["params"] = params
        if outs:
            entry["outs"] = outs
        if metrics:
            entry["metrics"] = metrics
        document[stage.name] = entry
    return {"stages": document}


def render(document: dict[str, Any]) -> str:
    return HEADER + yaml.safe_dump(document, sort_keys=False, width=120)


def project_document(root: Path) -> dict[str, Any]:
    """Build the document for the Kedro project at ``root`` (bootstraps it; runs no hooks)."""
    from kedro.config import OmegaConfigLoader
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project
    from kedro.io.catalog_config_resolver import CatalogConfigResolver

    bootstrap_project(root)
    conf = OmegaConfigLoader(str(root / "conf"), base_env="base", default_run_env="base")["catalog"]
    resolver = CatalogConfigResolver(conf)
    return build_dvc_yaml(dict(pipelines), resolver.resolve_pattern, root)
