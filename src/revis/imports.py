"""Start-up: packages whose ``__init__`` imports everything run it only when a name of their own is asked for.

diffusers' ``models.unets``, ``models.autoencoders``, ``models.transformers`` and ``models.controlnets``
import every model of their kind in ``__init__`` (~120 modules, and through ``loaders`` transformers' model
zoo), although revis uses three of them: importing ``diffusers.models.unets.unet_2d_condition`` ran all of
that first. Here such a package is created without running its ``__init__``: a submodule imports as usual
(``diffusers.models.unets.unet_2d_condition``, ``from diffusers.models.unets import unet_2d_blocks``), and
the first other name asked of the package (``from diffusers.models.unets import UNet2DModel``) runs the
original ``__init__`` in it, so every name it defines is there as before. Nothing changes in what the
modules compute: the same code, only fewer modules loaded.

``install()`` (called by ``revis/__init__``, before anything imports diffusers) puts the finder first on
``sys.meta_path``; ``REVIS_LAZY_PACKAGES=off`` leaves the import system as Python has it (to compare).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import importlib.abc

LAZY_PACKAGES = frozenset(
    {
        "diffusers.models.unets",
        "diffusers.models.autoencoders",
        "diffusers.models.transformers",
        "diffusers.models.controlnets",
    }
)
SWITCH = "REVIS_LAZY_PACKAGES"


class _LazyInitLoader:
    """Creates the package as its own loader would, runs its ``__init__`` on the first name that is not a submodule."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)  # type: ignore[no-any-return]

    def exec_module(self, module: ModuleType) -> None:
        loader, folder = self._loader, Path(module.__spec__.origin or "").parent  # type: ignore[union-attr]
        state = {"done": False}

        def __getattr__(name: str) -> Any:
            if not name.startswith("__") and ((folder / f"{name}.py").is_file() or (folder / name).is_dir()):
                return importlib.import_module(f"{module.__name__}.{name}")  # a submodule: only it
            if state["done"]:
                raise AttributeError(f"module {module.__name__!r} has no attribute {name!r}")
            state["done"] = True
            del module.__dict__["__getattr__"]
            loader.exec_module(module)  # the package's own __init__, in the same module object
            return getattr(module, name)

        module.__dict__["__getattr__"] = __getattr__


class LazyPackageFinder:
    """A ``sys.meta_path`` finder (duck-typed: ``importlib.abc`` costs an import at every start-up)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in LAZY_PACKAGES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not spec.submodule_search_locations:
            return None
        spec.loader = cast("importlib.abc.Loader", _LazyInitLoader(spec.loader))
        return spec


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once), unless ``REVIS_LAZY_PACKAGES=off``."""
    if os.environ.get(SWITCH, "on").lower() in ("off", "0", "false"):
        return
    if not any(isinstance(finder, LazyPackageFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, LazyPackageFinder())
