"""Kedro dataset of the caption world: WebDataset shards (``train-000000.tar``, ``test-000000.tar``) + ``world.json``.

Its own module (not ``datasets.py``) so that a stage's code dependencies follow only the
readers it uses: the caption world's stages do not import the detection readers and back.
"""

from __future__ import annotations

import json
from typing import Any

from kedro.io import DatasetError

from revis.atomic import atomic_directory
from revis.catalog.base import FileDataset as _FileDataset
from revis.datasets.webdataset import read_shard, write_shard
from revis.world.captions import CaptionSplit, from_samples, to_samples


class CaptionWorldDataset(_FileDataset):
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
