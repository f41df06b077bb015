"""Validate the project's parameters before any compute (the ``check-params`` stage and CLI).

``dvc repro`` runs the ``check-params`` stage first: it validates ``params.yaml`` exactly as
the DVC stages will read it (environment ``base``) and writes the fingerprints of every
``DataPath`` that is set (``revis.config.fingerprint``) and of every stage's code files
(``revis.dvc_stages.write_code_stamps``). A bad value stops the run before any
stage's outputs are deleted. ``kedro check-params`` also validates the overrides of the local
environment (``conf/local/parameters*.yml``) that an ad-hoc ``kedro run`` would merge in.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from revis.config.schema import ParameterError, data_path_parameters, validate_params

EXP_HINT = (
    "If `dvc exp run -S` set this value, params.yaml still holds it: fix the value, or restore the file "
    "with `git checkout -- params.yaml`."
)


def load_parameters(root: Path, env: str) -> dict[str, Any]:
    """The parameters as a KedroSession in ``env`` reads them (the project's own config loader)."""
    from kedro.framework.project import settings
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(root)
    loader = settings.CONFIG_LOADER_CLASS(
        conf_source=str(root / settings.CONF_SOURCE), env=env, **settings.CONFIG_LOADER_ARGS
    )
    return loader["parameters"]


def check_parameters(root: Path, envs: tuple[str, ...] = ("base",)) -> dict[str, Any]:
    """Validate the parameters of each environment; returns the base environment's parameters."""
    first: dict[str, Any] | None = None
    for env in envs:
        params = load_parameters(root, env)
        source = "params.yaml" if env == "base" else f"params.yaml + conf/{env}/parameters*.yml"
        validate_params(params, source=source)
        first = params if first is None else first
    assert first is not None
    return first


def _lookup(params: dict[str, Any], dotted: str) -> Any:
    node: Any = params
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def write_stamps(root: Path, params: dict[str, Any], stamps: Path) -> list[Path]:
    """``stamps/valid.json`` and one fingerprint per DataPath parameter (atomic writes)."""
    from revis.atomic import write_text_atomic
    from revis.config.fingerprint import fingerprint

    written = [stamps / "valid.json"]
    write_text_atomic(written[0], json.dumps({"valid": True}) + "\n")
    for key in data_path_parameters():
        path = stamps / "inputs" / f"{key}.json"
        write_text_atomic(path, json.dumps(fingerprint(_lookup(params, key), root), indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


def run_check_stage(root: Path) -> int:
    """The ``check-params`` DVC stage: 0 when valid (stamps written), 2 with one message otherwise."""
    import sys

    from revis.dvc_stages import sweep_temporaries, write_code_stamps

    sweep_temporaries(root)  # every repro runs this stage first: no temporary of a killed stage stays
    try:
        params = check_parameters(root, ("base",))
    except ParameterError as exc:
        print(f"{exc}\n{EXP_HINT}", file=sys.stderr)
        return 2
    write_stamps(root, params, root / "data" / "00_params")
    write_code_stamps(root)  # each stage's code digest: its one code dependency (revis.dvc_stages)
    return 0


__all__ = ["ParameterError", "check_parameters", "run_check_stage", "write_stamps"]
