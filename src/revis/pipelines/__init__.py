"""Kedro wiring, one package per pipeline: ``nodes_<kind>.py`` (thin adapters, one module per stage
kind), ``pipeline.py`` (wiring, each node tagged with its stage kind) and ``params.py`` (its params.yaml
section).

A DVC stage runs the nodes of one kind (``./run-stage csod select``), so it needs only that kind's
node module: ``pipeline.py`` takes its node modules from ``node_modules``, which, while
``only_stage_kinds`` is active (``revis.stage``), imports the selected kinds' modules and stands in
for the others without importing them (``nodes_train`` of csod pulls in ultralytics, of t2i
diffusers: seconds of start-up for a stage that never calls them). The registry drops the nodes
whose function is a stand-in (``drop_stand_ins``), so Kedro never sees, validates or runs them.
Everywhere else (``kedro run``, ``kedro dvc-yaml``, tests) every module is the real one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from importlib import import_module
from types import ModuleType
from typing import Any

_selected: frozenset[str] | None = None  # stage kinds whose node modules are imported; None: all


@contextmanager
def only_stage_kinds(kinds: Iterable[str]) -> Iterator[None]:
    """Within the block, pipelines built by ``create_pipeline`` import only these kinds' node modules."""
    global _selected
    previous, _selected = _selected, frozenset(kinds)
    try:
        yield
    finally:
        _selected = previous


class _StandIn:
    """What a node function of an unselected stage kind is while a stage runs: never called."""

    def __init__(self, module: str, name: str) -> None:
        self.__module__ = module
        self.__name__ = self.__qualname__ = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"{self.__module__}.{self.__name__} was not imported: this process runs another stage kind")


class _StandInModule:
    """An unselected kind's node module: every attribute is a ``_StandIn``; nothing is imported."""

    def __init__(self, name: str) -> None:
        self.__name__ = name

    def __getattr__(self, attribute: str) -> _StandIn:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        return _StandIn(self.__name__, attribute)


def node_modules(package: str, *kinds: str) -> tuple[Any, ...]:
    """``package.nodes_<kind>`` for each kind: the module, or a stand-in while another kind's stage runs."""
    found: list[ModuleType | _StandInModule] = []
    for kind in kinds:
        name = f"{package}.nodes_{kind}"
        found.append(import_module(name) if _selected is None or kind in _selected else _StandInModule(name))
    return tuple(found)


def is_stand_in(function: Any) -> bool:
    return isinstance(function, _StandIn)


def drop_stand_ins(pipeline: Any) -> Any:
    """The pipeline without the nodes of unselected kinds (the same object when it has none)."""
    from kedro.pipeline import Pipeline

    kept = [node for node in pipeline.nodes if not is_stand_in(node.func)]
    return pipeline if len(kept) == len(pipeline.nodes) else Pipeline(kept)
