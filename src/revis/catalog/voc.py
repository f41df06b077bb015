"""A Pascal VOC year folder as a catalog dataset (the mini world's detection scenes, or a real VOCdevkit)."""

from __future__ import annotations

from kedro.io import DatasetError

from revis.catalog.base import FileDataset as _FileDataset
from revis.datasets.voc import VocData, read_voc_folder, write_voc


class VocFolderDataset(_FileDataset):
    """A Pascal VOC year folder; saves a ``VocData`` with scenes, loads one with records."""

    def load(self) -> VocData:
        return read_voc_folder(self._require())

    def save(self, data: VocData) -> None:
        if data.scenes is None:
            raise DatasetError("VocFolderDataset saves VocData with scenes (pixels), not records only")
        write_voc(self._filepath, data.scenes, data.split_ids, data.class_names)
