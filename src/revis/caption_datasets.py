"""Kedro dataset of the caption world: WebDataset shards (``train-000000.tar``, ``test-000000.tar``) + ``world.json``.

Writes atomically (a temporary folder renamed into place). It lives beside, not inside,
``revis.catalog`` only because that package belongs to the platform; it follows its rules.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from revis.atomic import atomic_directory
from revis.datasets.webdataset import read_shard, write_shard
from revis.world.captions import CaptionSplit, from_samples, to_samples


class _FolderDataset(AbstractDataset):
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


class CaptionWorldDataset(_FolderDataset):
    """``{"train": CaptionSplit, "test": CaptionSplit, "vocabulary": dict}`` as WebDataset shards + world.json."""

    def load(self) -> dict[str, Any]:
        root = self._require()
        out: dict[str, Any] = {}
        for shard in sorted(root.glob("*-000000.tar")):
            out[shard.name.rsplit("-", 1)[0]] = from_samples(read_shard(shard))
        if not out:
            raise DatasetError(f"{root} holds no WebDataset shards (<split>-000000.tar)")
        vocabulary = root / "world.json"
        out["vocabulary"] = json.loads(vocabulary.read_text()) if vocabulary.exists() else {}
        return out

    def save(self, data: dict[str, Any]) -> None:
        with atomic_directory(self._filepath) as tmp:
            for split, value in data.items():
                if isinstance(value, CaptionSplit):
                    write_shard(tmp / f"{split}-000000.tar", to_samples(value))
            (tmp / "world.json").write_text(json.dumps(data.get("vocabulary", {}), indent=2, sort_keys=True) + "\n")
