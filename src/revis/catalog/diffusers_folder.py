"""Kedro datasets of text-to-image models saved as diffusers-style folders (``MiniT2IPipeline``): one, or a set.

Writes atomically (a temporary folder renamed into place); loads with the frozen text encoder attached.
"""

from __future__ import annotations

from typing import Any

from revis.atomic import atomic_directory
from revis.catalog.base import FileDataset as _FileDataset
from revis.diffusion.pipeline import load_t2i, save_t2i


class DiffusersFolderDataset(_FileDataset):
    """A ``MiniT2IPipeline`` as a diffusers-style folder; loads with its frozen text encoder attached."""

    def load(self) -> Any:
        return load_t2i(self._require())

    def save(self, data: Any) -> None:
        with atomic_directory(self._filepath) as tmp:
            save_t2i(data, tmp)


class DiffusersFolderSetDataset(_FileDataset):
    """``{name: MiniT2IPipeline}`` (e.g. one per training seed) as one diffusers-style folder per name."""

    def load(self) -> dict[str, Any]:
        root = self._require()
        return {folder.name: load_t2i(folder) for folder in sorted(root.iterdir()) if folder.is_dir()}

    def save(self, data: dict[str, Any]) -> None:
        with atomic_directory(self._filepath) as tmp:
            for name, pipe in data.items():
                save_t2i(pipe, tmp / str(name))
