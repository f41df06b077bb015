"""Derive ``dvc.yaml`` from the Kedro registry and catalog, so the DAG cannot drift.

One DVC stage per (pipeline, stage kind): the nodes of pipeline ``p`` tagged ``kind`` run as
``./run-stage p kind`` (= ``kedro run --env=base --pipelines=p --tags=kind``). For each stage:

- ``params``: the exact ``params:`` keys its nodes read;
- ``deps``: the files of the catalog datasets it reads; the fingerprint of its code (below);
  and, for each ``DataPath`` parameter it reads (a real dataset, weights), the fingerprint
  that the ``check-params`` stage writes of the contents at that path;
- ``meta.code``: its code, per file: the modules its node functions and dataset classes live
  in, and every ``revis`` module they import, transitively (package ``__init__`` files
  included, since importing a module runs them). ``check-params`` writes the digest of each
  listed file to ``data/00_params/code/<stage>.json``, the stage's one code dependency. DVC
  parses and rewrites ``dvc.lock`` after every stage: with ~1,300 per-file code entries (1,621
  paths, 222 KB) that took ~2.4 s of CPU per stage, with one per stage (434 paths, 83 KB) ~0.9 s.
  Same precision as listing the files; the difference: ``dvc status`` sees a code change once
  ``check-params`` ran (every ``dvc repro`` runs it first; alone: ``./run-stage check-params``);
- ``outs`` / ``metrics`` / ``plots``: the files of the catalog datasets it writes.
  ``MetricsDataset`` files (``reports/<p>/metrics.json``, the scoreboard's ``reports/verdicts.json``)
  are DVC metrics (git-tracked); PNGs under ``reports/<p>/plots/`` are DVC image plots (cached);
  ``CurveDataset`` files (data series, e.g. ``reports/<p>/curves/*.json``) are git-tracked outs
  declared in the top-level ``plots:`` with their axes (``x``, ``y`` columns, title, labels,
  template), so ``dvc plots show`` / ``dvc plots diff`` draw them across commits and experiments;
  other files under ``reports/`` are uncached outs (git-tracked).

The first stage, ``check-params``, validates ``params.yaml`` (and nothing else) before any
stage's outputs are touched, and fingerprints the contents of every ``DataPath`` that is set.
It is ``always_changed`` -- it runs on every ``dvc repro`` (about a second) -- so an unknown
key or a new file under a dataset folder is seen even when no other stage would rerun; its
outputs only change when the fingerprints do, so it reruns nothing by itself.

Refused: a node without exactly one stage-kind tag; a node function the generator cannot see
through (``functools.partial``, lambdas, callables without a module); a dataset that crosses
stages without being persisted; a dataset written by two stages.
"""

from __future__ import annotations

import ast
import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kedro.pipeline import Pipeline

STAGE_KINDS = ("ingest", "features", "select", "distill", "train", "attribute", "evaluate", "report")
CHECK_STAGE = "check-params"
STAMPS = "data/00_params"
VALID_STAMP = f"{STAMPS}/valid.json"
CODE_STAMPS = f"{STAMPS}/code"
HEADER = (
    "# Generated from the Kedro registry and catalog by `kedro dvc-yaml` (src/revis/dvc_stages.py).\n"
    "# Do not edit by hand: change the pipelines or conf/base/catalog*, then regenerate.\n"
)
# Modules whose changes do not change results: wiring, tracking, validation, the CLI. Pipeline
# wiring (``revis.pipelines.<p>`` and ``.pipeline``) is visible in the generated stage itself.
NOT_RESULT_CODE = {
    "revis",
    "revis.settings",
    "revis.hooks",
    "revis.cli",
    "revis.stage",
    "revis.curves",
    "revis.dvc_stages",
    "revis.pipeline_registry",
    "revis.__main__",
    "revis.pipelines",
}
NOT_RESULT_PREFIXES = ("revis.tracking", "revis.config")


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


def stage_command(pipeline: str, kind: str) -> str:
    return f"./run-stage {pipeline} {kind}"


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


def lazy_names(init: Path) -> dict[str, str]:
    """A package's lazy name map (PEP 562): its ``__init__``'s literal ``_WHERE = {name: submodule}``, else {}.

    ``revis.catalog``, ``revis.distill`` and ``revis.kkt`` resolve names on first use, so that the
    torch-free parts import without torch; ``from revis.kkt import synthesize`` really depends on
    ``revis.kkt.synthesis``, which only this map says.
    """
    for stmt in ast.parse(init.read_text(), filename=str(init)).body:
        if (
            isinstance(stmt, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "_WHERE" for t in stmt.targets)
            and isinstance(stmt.value, ast.Dict)
        ):
            pairs = zip(stmt.value.keys, stmt.value.values)
            return {
                k.value: v.value
                for k, v in pairs
                if isinstance(k, ast.Constant) and isinstance(v, ast.Constant)
                if isinstance(k.value, str) and isinstance(v.value, str)
            }
    return {}


def _imports(path: Path, src: Path) -> set[str]:
    """``revis.*`` modules imported by a source file (absolute imports; revis uses no relative ones)."""
    found: set[str] = set()
    for stmt in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(stmt, ast.Import):
            found |= {alias.name for alias in stmt.names if alias.name.split(".")[0] == "revis"}
        elif isinstance(stmt, ast.ImportFrom) and stmt.module and stmt.module.split(".")[0] == "revis":
            found.add(stmt.module)
            init = src.joinpath(*stmt.module.split("."), "__init__.py")
            lazy = lazy_names(init) if init.is_file() else {}
            found |= {f"{stmt.module}.{lazy.get(alias.name, alias.name)}" for alias in stmt.names}
    return found


def _is_wiring(module: str) -> bool:
    parts = module.split(".")
    return (
        module in NOT_RESULT_CODE
        or module.startswith(NOT_RESULT_PREFIXES)
        or (len(parts) >= 3 and parts[1] == "pipelines" and (len(parts) == 3 or parts[3] == "pipeline"))
    )


def code_closure(roots: set[str], src: Path) -> set[str]:
    """All result-code ``revis`` modules reachable from ``roots`` by imports, with their packages' inits."""
    seen: set[str] = set()
    todo = sorted(roots)
    while todo:
        module = todo.pop()
        if module in seen or _is_wiring(module):
            continue
        path = _module_file(module, src)
        if path is None:
            continue
        seen.add(module)
        parents = [".".join(module.split(".")[:i]) for i in range(2, module.count(".") + 1)]
        todo += sorted((_imports(path, src) | set(parents)) - seen)
    return seen


def code_deps(modules: set[str], src: Path, root: Path) -> list[str]:
    """Modules -> their source files, relative to the project root."""
    files = {_module_file(module, src) for module in modules}
    return sorted(f.relative_to(root).as_posix() for f in files if f is not None)


def node_module(node: Any) -> str:
    """The module a node's function is defined in; refuses what the generator cannot see through."""
    func: Callable[..., Any] = node.func
    if isinstance(func, functools.partial):
        raise DagError(
            f"node '{node.name}' wraps its function in functools.partial: the generator cannot see its code; "
            "write a named function in the stage's node module instead"
        )
    module = getattr(func, "__module__", None)
    if not module or getattr(func, "__name__", "") == "<lambda>" or not inspect.isfunction(inspect.unwrap(func)):
        raise DagError(f"node '{node.name}': use a named function defined in a module (got {func!r})")
    return module


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


def stamp_path(key: str) -> str:
    """Where ``check-params`` writes the fingerprint of the contents at the path in parameter ``key``."""
    return f"{STAMPS}/inputs/{key}.json"


def _data_path_keys(params: list[str], data_paths: list[str]) -> list[str]:
    """The DataPath parameters under any of ``params`` (a stage reading ``csod.data`` reads ``csod.data.voc_root``)."""
    return sorted({k for k in data_paths for p in params if k == p or k.startswith(p + ".") or p.startswith(k + ".")})


def _dataset_module(dataset_type: str) -> str:
    """``revis.catalog.JsonDataset`` -> the module that defines the class (``revis.catalog.files``)."""
    import importlib

    module_name, _, class_name = dataset_type.rpartition(".")
    cls = getattr(importlib.import_module(module_name), class_name, None)
    return getattr(cls, "__module__", module_name) if cls is not None else module_name


def _check_single_writers(stages: list[Stage]) -> None:
    producer: dict[str, str] = {}
    for stage in stages:
        for output in stage.outputs:
            if output in producer and producer[output] != stage.name:
                raise DagError(f"dataset '{output}' is written by two stages: {producer[output]}, {stage.name}")
            producer[output] = stage.name


def code_stamp_path(stage: str) -> str:
    """Where ``check-params`` writes the digest of the code files (``meta.code``) of ``stage``."""
    return f"{CODE_STAMPS}/{stage}.json"


def _check_stage(data_paths: list[str], stage_names: list[str]) -> dict[str, Any]:
    return {
        "cmd": f"./run-stage {CHECK_STAGE}",
        "deps": ["params.yaml"],
        "outs": [
            {VALID_STAMP: {"cache": False}},
            *({stamp_path(k): {"cache": False}} for k in data_paths),
            *({code_stamp_path(name): {"cache": False}} for name in stage_names),
        ],
        "always_changed": True,
    }


@dataclass
class _StageFiles:
    """What one stage's datasets make of it: code roots, file deps, outs, metrics, plots, curve plots."""

    roots: set[str]
    data_deps: set[str] = field(default_factory=set)
    outs: list[Any] = field(default_factory=list)
    metrics: list[Any] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)
    curves: list[dict[str, Any]] = field(default_factory=list)

    def add_output(self, path: str, config: dict[str, Any], types: set[str]) -> None:
        if "revis.catalog.CurveDataset" in types:
            self.outs.append({path: {"cache": False}})
            self.curves.append({path: curve_plot(config)})
        elif "revis.catalog.MetricsDataset" in types:
            self.metrics.append({path: {"cache": False}})
        elif path.startswith("reports/") and "/plots/" in path:
            self.plots.append(path)
        elif path.startswith("reports/"):
            self.outs.append({path: {"cache": False}})
        else:
            self.outs.append(path)


def _stage_files(stage: Stage, stages: list[Stage], resolve: Any) -> _StageFiles:
    files = _StageFiles(roots={node_module(node) for node in stage.nodes})
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
        types = {t for t in (config.get("type"), (config.get("dataset") or {}).get("type")) if isinstance(t, str)}
        files.roots |= {_dataset_module(t) for t in types if t.startswith("revis.")}  # its code reads/writes the file
        if name in stage.inputs:
            files.data_deps.add(path)
        else:
            files.add_output(path, config, types)
    return files


def _stage_entry(
    stage: Stage, stages: list[Stage], resolve: Any, root: Path, data_paths: list[str]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The stage's dvc.yaml entry, and the top-level ``plots:`` entries of its curves."""
    params = sorted(i[len("params:") :] for i in stage.inputs if i.startswith("params:"))
    if "parameters" in stage.inputs:
        raise DagError(f"stage {stage.name} reads all 'parameters'; read the exact params: keys instead")
    files = _stage_files(stage, stages, resolve)
    src = root / "src"
    stamps = [stamp_path(k) for k in _data_path_keys(params, data_paths)]
    deps = [code_stamp_path(stage.name), *sorted(files.data_deps), VALID_STAMP, *stamps]
    entry: dict[str, Any] = {"cmd": stage_command(stage.pipeline, stage.kind), "deps": deps}
    for key, value in (("params", params), ("outs", files.outs), ("metrics", files.metrics), ("plots", files.plots)):
        if value:
            entry[key] = value
    entry["meta"] = {"code": code_deps(code_closure(files.roots, src), src, root)}
    return entry, files.curves


def build_dvc_yaml(
    pipelines: dict[str, Pipeline], resolve: Any, root: Path, data_paths: list[str] | None = None
) -> dict[str, Any]:
    """``resolve(dataset_name) -> catalog config dict``; ``data_paths``: dotted DataPath parameter names."""
    data_paths = sorted(data_paths or [])
    stages = split_stages(pipelines)
    _check_single_writers(stages)
    document: dict[str, Any] = {CHECK_STAGE: _check_stage(data_paths, [stage.name for stage in stages])}
    plot_definitions: list[dict[str, Any]] = []
    for stage in stages:
        document[stage.name], curves = _stage_entry(stage, stages, resolve, root, data_paths)
        plot_definitions += curves
    if plot_definitions:
        return {"stages": document, "plots": plot_definitions}
    return {"stages": document}


def curve_plot(config: dict[str, Any]) -> dict[str, Any]:
    """The top-level ``plots:`` entry of a ``CurveDataset`` catalog entry (built, hence validated, by the class)."""
    from revis.catalog.files import CurveDataset

    return CurveDataset(**{k: v for k, v in config.items() if k != "type"}).plot_definition()


def render(document: dict[str, Any]) -> str:
    return HEADER + yaml.safe_dump(document, sort_keys=False, width=120)


def project_document(root: Path) -> dict[str, Any]:
    """Build the document for the Kedro project at ``root`` (bootstraps it; runs no hooks)."""
    from kedro.framework.project import pipelines, settings
    from kedro.framework.startup import bootstrap_project
    from kedro.io.catalog_config_resolver import CatalogConfigResolver

    from revis.config.schema import data_path_parameters

    bootstrap_project(root)
    # the config loader exactly as the project's settings build it, in the environment DVC stages run in
    loader = settings.CONFIG_LOADER_CLASS(
        conf_source=str(root / settings.CONF_SOURCE), env="base", **settings.CONFIG_LOADER_ARGS
    )
    resolver = CatalogConfigResolver(loader["catalog"])
    return build_dvc_yaml(dict(pipelines), resolver.resolve_pattern, root, data_path_parameters())


def _stage_specs(dvc_yaml: Path) -> dict[str, Any]:
    """The ``stages`` of a dvc.yaml; none when the file is missing or unreadable."""
    try:
        stages = (yaml.load(dvc_yaml.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {})["stages"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return {}
    return stages if isinstance(stages, dict) else {}


@functools.cache
def _file_digest(path: Path) -> str | None:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def code_fingerprint(files: list[str], root: Path) -> dict[str, str | None]:
    """``{file: sha256 of its bytes}`` (``None`` for a missing file): a stage's code, as its code stamp holds it."""
    return {name: _file_digest(root / name) for name in files}


def write_code_stamps(root: Path) -> list[Path]:
    """One ``data/00_params/code/<stage>.json`` per stage of ``root/dvc.yaml`` with ``meta.code`` (atomic
    writes; byte-identical when no listed file changed, so nothing reruns)."""
    import json

    from revis.atomic import write_text_atomic

    written: list[Path] = []
    _file_digest.cache_clear()  # files shared by stages are read once per call, and again by the next call
    try:
        for name, spec in _stage_specs(root / "dvc.yaml").items():
            files = ((spec or {}).get("meta") or {}).get("code")
            if isinstance(files, list):
                path = root / code_stamp_path(name)
                write_text_atomic(path, json.dumps(code_fingerprint(files, root), indent=1, sort_keys=True) + "\n")
                written.append(path)
    finally:
        _file_digest.cache_clear()
    return written


def dvc_outputs(dvc_yaml: Path) -> list[str]:
    """Every ``outs`` path of a dvc.yaml (relative to its folder); none when the file is missing or unreadable."""
    paths: list[str] = []
    for spec in _stage_specs(dvc_yaml).values():
        for out in (spec or {}).get("outs") or []:
            paths += [out] if isinstance(out, str) else list(out)
    return paths


def sweep_temporaries(root: Path) -> int:
    """Remove the temporaries that killed writers left next to any DVC output; how many were removed."""
    import sys

    from revis.atomic import sweep_stale_temporaries

    removed = sweep_stale_temporaries(root, dvc_outputs(root / "dvc.yaml"))
    if removed:
        print(f"removed {len(removed)} temporaries left by killed writers", file=sys.stderr)
    return len(removed)
