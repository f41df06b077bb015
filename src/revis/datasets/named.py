"""Image-classification sets by name: the mini world's (catalog inputs) or CIFAR-10 from a local folder.

Pipelines that accept ``datasets: [digits, shapes, cifar10]`` resolve names here. digits
and shapes arrive as loaded catalog datasets; CIFAR-10 is read from the folder of official
python batches given in params (``cifar10_root``), never downloaded at run time (see
``python -m revis.datasets.fetch``).
"""

from __future__ import annotations

from typing import Any

from revis.datasets.cifar import read_cifar10
from revis.datasets.imageset import DataError, ImageSet


def named_splits(
    name: str, loaded: dict[str, dict[str, Any]], cifar10_root: str | None = None
) -> tuple[ImageSet, ImageSet]:
    """(train, test) of dataset ``name``; ``loaded`` maps names to already loaded ``{"train", "test"}`` dicts."""
    if name == "cifar10":
        if not cifar10_root:
            raise DataError("dataset cifar10 needs cifar10_root: the local cifar-10-batches-py folder")
        return read_cifar10(cifar10_root, "train"), read_cifar10(cifar10_root, "test")
    if name not in loaded:
        raise DataError(f"unknown dataset {name!r}; known: {sorted([*loaded, 'cifar10'])}")
    return loaded[name]["train"], loaded[name]["test"]
