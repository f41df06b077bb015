"""Kedro dataset of a text-to-image model saved as a diffusers-style folder (``MiniT2IPipeline``).

Writes atomically (a temporary folder renamed into place); loads with the frozen text encoder
attached. Beside ``revis.catalog`` only because that package belongs to the platform.
"""

from __future__ import annotations

from typing import Any

from revis.atomic import atomic_directory
from revis.caption_datasets import _FolderDataset
from revis.diffusion.pipeline import load_t2i, save_t2i


class DiffusersFolderDataset(_FolderDataset):
    """A ``MiniT2IPipeline`` as a diffusers-style folder; loads with its frozen text encoder attached."""

    def load(self) -> Any:
        return load_t2i(self._require())

    def save(self, data: Any) -> None:
        with atomic_directory(self._filepath) as tmp:
            save_t2i(data, tmp)
