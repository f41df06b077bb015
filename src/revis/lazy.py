"""Packages whose names resolve on first use (PEP 562), so their torch-free parts import without torch.

A package keeps a literal ``_WHERE = {name: submodule}`` (the DVC generator reads it to follow
``from package import name`` to the submodule) and sets ``__getattr__ = lazy_getattr(__name__, _WHERE)``.
"""

from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy_getattr(package: str, where: dict[str, str]) -> Callable[[str], Any]:
    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(f"{package}.{where[name]}"), name)

    return __getattr__
