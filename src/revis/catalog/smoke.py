"""Kedro dataset for the smoke world (pipeline ``lada``): saves a ``SmokeWorld``, loads its folder."""

from __future__ import annotations

from kedro.io import DatasetError

from revis.catalog.base import FileDataset as _FileDataset
from revis.world.smoke import SmokeWorld, SmokeWorldFolder, read_smoke_world, write_smoke_world


class SmokeWorldDataset(_FileDataset):
    """A smoke world written in the LADA release layout (``revis.world.smoke``), atomically."""

    def load(self) -> SmokeWorldFolder:
        return read_smoke_world(self._require())

    def save(self, data: SmokeWorld) -> None:
        if not isinstance(data, SmokeWorld):
            raise DatasetError(f"SmokeWorldDataset saves a SmokeWorld, got {type(data).__name__}")
        write_smoke_world(self._filepath, data)
