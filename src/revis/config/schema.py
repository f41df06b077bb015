"""Validation of params.yaml before any compute: unknown keys, types, ranges, names.

Each pipeline declares its section as a pydantic model ``Params`` in
``revis/pipelines/<name>/params.py``; the section's key in params.yaml is the pipeline's
name. All problems are reported together, each naming its dotted key.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from pydantic import BaseModel, ValidationError

import revis.pipelines


class ParameterError(ValueError):
    """params.yaml holds a value the pipelines cannot run with."""


def section_models() -> dict[str, type[BaseModel]]:
    """``{section: Params model}`` for every pipeline package that declares one, and ``runtime``."""
    from revis.config.runtime import RuntimeParams

    models: dict[str, type[BaseModel]] = {"runtime": RuntimeParams}
    for info in pkgutil.iter_modules(revis.pipelines.__path__):
        try:
            module = importlib.import_module(f"revis.pipelines.{info.name}.params")
        except ModuleNotFoundError as exc:
            if exc.name == f"revis.pipelines.{info.name}.params":
                continue
            raise
        models[info.name] = module.Params
    return models


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def validate_params(params: dict[str, Any], source: str = "params.yaml") -> dict[str, BaseModel]:
    """Validate every section; raise one ``ParameterError`` listing each bad key."""
    models = section_models()
    problems: list[str] = []
    validated: dict[str, BaseModel] = {}
    for section in params:
        if section not in models:
            problems.append(f"'{section}': unknown parameter section (known: {', '.join(sorted(models))})")
    for section, model in models.items():
        try:
            validated[section] = model.model_validate(params.get(section, {}))
        except ValidationError as exc:
            for error in exc.errors():
                key = ".".join([section, *(str(part) for part in error["loc"])])
                if error["type"] == "extra_forbidden":
                    problems.append(f"'{key}': unknown parameter")
                elif error["type"] == "missing":
                    problems.append(f"'{key}': required parameter is missing")
                else:
                    problems.append(f"'{key}': {error['msg']} (got {_show(error.get('input'))})")
    if not problems:  # values that validate but cannot run: model sizes beyond the memory
        from revis.config.memory import memory_problems

        problems += memory_problems(validated)
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise ParameterError(f"invalid parameters in {source}:\n{lines}")
    return validated


def data_path_parameters() -> list[str]:
    """Dotted names of every ``DataPath`` parameter (datasets, weights at a user's path) of every section."""
    from revis.config.types import data_path_fields

    return sorted(key for section, model in section_models().items() for key in data_path_fields(model, section))
