"""Kedro dataset of a QVHighlights-layout folder (the mini world's videos); writes are atomic.

Saves a ``revis.world.videos.VideoWorld`` (annotation files, ``videos/<vid>.npy``,
``world.json``); loads a lazy ``revis.datasets.qvhighlights.QvhCorpus`` over the folder, which
reads like the world it was saved from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from revis.datasets.qvhighlights import QvhCorpus, write_qvh_folder


class QvhFolderDataset(AbstractDataset):
    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}

    def _exists(self) -> bool:
        return self._filepath.is_dir()

    def load(self) -> QvhCorpus:
        if not self._filepath.is_dir():
            raise DatasetError(f"{self._filepath} does not exist; run the stage that writes it (see dvc.yaml)")
        return QvhCorpus(self._filepath)

    def save(self, data: Any) -> None:
        if not hasattr(data, "videos") or not hasattr(data, "queries"):
            raise DatasetError("QvhFolderDataset saves a VideoWorld (queries, videos, meta)")
        write_qvh_folder(self._filepath, data.queries, data.videos, data.meta)
