"""The base of revis' file datasets: a path relative to the project root, a clear error when it is missing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError


class FileDataset(AbstractDataset):
    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}

    def _exists(self) -> bool:
        return self._filepath.exists()

    def _require(self) -> Path:
        if not self._filepath.exists():
            raise DatasetError(f"{self._filepath} does not exist; run the stage that writes it (see dvc.yaml)")
        return self._filepath
