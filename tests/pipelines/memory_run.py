"""Run a registered pipeline over in-memory datasets with validated, typed parameters (fast wiring tests).

Like conftest's ``run_in_memory``, but it also returns intermediate outputs named in ``keep``:
the runner releases a memory dataset once its last consumer has run, so loading every output
afterwards fails for any pipeline whose outputs feed later nodes.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def merged(tiny_params: dict, section: str) -> dict:
    """params.yaml's section with the tiny sizes merged over it."""
    base = yaml.safe_load((REPO / "params.yaml").read_text())[section]

    def merge(a: dict, b: dict) -> dict:
        out = copy.deepcopy(a)
        for k, v in b.items():
            out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        return out

    return merge(base, tiny_params.get(section, {}))


def run_nodes(
    name: str, params: dict, inputs: dict | None = None, keep: tuple[str, ...] = (), tags: tuple[str, ...] = ()
) -> dict:
    """The registered pipeline over in-memory datasets; returns its free outputs and ``keep``.

    (conftest's ``run_in_memory`` loads every output after the run, but the runner has already
    released the intermediate ones that later nodes consumed.)
    """
    from kedro.framework.project import configure_project, find_pipelines
    from kedro.io import DataCatalog, MemoryDataset
    from kedro.runner import SequentialRunner
    from kedro.validation.parameter_validator import ParameterValidator

    configure_project("revis")
    pipe = find_pipelines(raise_errors=True, pipelines_to_find=[name])[name]
    if tags:
        pipe = pipe.only_nodes_with_tags(*tags)
    validated = ParameterValidator({"p": pipe}).validate_raw_params(copy.deepcopy(params))
    catalog = DataCatalog()

    def add(key: str, value) -> None:
        catalog[f"params:{key}"] = MemoryDataset(value, copy_mode="assign")
        fields = (
            value
            if isinstance(value, dict)
            else {f: getattr(value, f) for f in getattr(type(value), "model_fields", {})}
        )
        for field, sub in fields.items():
            add(f"{key}.{field}", sub)

    for key, value in validated.items():
        add(key, value)
    for key, value in (inputs or {}).items():
        catalog[key] = MemoryDataset(value, copy_mode="assign")
    kept = {k: [] for k in keep}
    for output in pipe.all_outputs():
        catalog[output] = _Keeping(kept[output]) if output in kept else MemoryDataset(copy_mode="assign")
    SequentialRunner().run(pipe, catalog)
    out = {k: catalog.load(k) for k in pipe.outputs()}
    out.update({k: v[0] for k, v in kept.items()})
    return out


class _Keeping:  # a MemoryDataset that also keeps what was saved (the runner releases consumed intermediates)
    def __new__(cls, store: list):
        from kedro.io import MemoryDataset

        class Keeping(MemoryDataset):
            def save(self, data):
                store.append(data)
                super().save(data)

        return Keeping(copy_mode="assign")
