"""Image-classification datasets on disk: named splits in one .npz, a CIFAR-10-layout folder."""

from __future__ import annotations

from typing import Any

from revis.catalog.base import FileDataset as _FileDataset
from revis.datasets.cifar import read_cifar10, read_world_rules, write_cifar10
from revis.datasets.imageset import ImageSet, load_imagesets_npz, save_imagesets_npz


class ImageSetsDataset(_FileDataset):
    """Named splits of an ``ImageSet`` in one compressed .npz."""

    def load(self) -> dict[str, ImageSet]:
        return load_imagesets_npz(self._require())

    def save(self, data: dict[str, ImageSet]) -> None:
        save_imagesets_npz(self._filepath, data)


class CifarFolderDataset(_FileDataset):
    """A CIFAR-10-layout folder: ``{"train": ImageSet, "test": ImageSet, "rules": dict}``."""

    def load(self) -> dict[str, Any]:
        root = self._require()
        out: dict[str, Any] = {split: read_cifar10(root, split) for split in ("train", "test")}
        out["rules"] = read_world_rules(root) if (root / "world.json").exists() else {}
        return out

    def save(self, data: dict[str, Any]) -> None:
        write_cifar10(self._filepath, data["train"], data["test"], world=data.get("rules"))
