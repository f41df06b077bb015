"""Kedro dataset of a QVHighlights-layout folder (the mini world's videos); writes are atomic.

Saves a ``revis.world.videos.VideoWorld`` (annotation files, ``videos/<vid>.npy``,
``world.json``); loads a lazy ``revis.datasets.qvhighlights.QvhCorpus`` over the folder, which
reads like the world it was saved from.
"""

from __future__ import annotations

from typing import Any

from kedro.io import DatasetError

from revis.catalog.base import FileDataset
from revis.datasets.qvhighlights import QvhCorpus, write_qvh_folder


class QvhFolderDataset(FileDataset):
    def _exists(self) -> bool:
        return self._filepath.is_dir()

    def load(self) -> QvhCorpus:
        return QvhCorpus(self._require())

    def save(self, data: Any) -> None:
        if not hasattr(data, "videos") or not hasattr(data, "queries"):
            raise DatasetError("QvhFolderDataset saves a VideoWorld (queries, videos, meta)")
        write_qvh_folder(self._filepath, data.queries, data.videos, data.meta)
