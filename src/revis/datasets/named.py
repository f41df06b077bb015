"""Image-classification sets by name: the mini world's (catalog inputs) or CIFAR-10 from a local folder.

Pipelines that accept ``datasets: [digits, shapes, cifar10]`` resolve names here. digits
and shapes arrive as loaded catalog datasets; CIFAR-10 is read from the folder of official
python batches given in params (``cifar10_root``), never downloaded at run time (see
``python -m revis.datasets.fetch``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

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


@dataclass
class Splits:
    """A dataset's train and test split as float tensors standardised per channel with the train statistics.

    The distillation reference normalises every image with the dataset's mean and std
    (``transforms.Normalize`` in ``get_dataset``); synthetic images live in the same space.
    """

    name: str
    x_train: torch.Tensor  # (N, C, H, W) standardised
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    mean: torch.Tensor  # (C,) in [0, 1] pixel units
    std: torch.Tensor  # (C,)
    class_names: list[str]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def channels(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.x_train.shape[-1])

    @property
    def shape(self) -> tuple[int, int, int]:
        """(channels, classes, image size): what ``build_model`` needs."""
        return self.channels, self.num_classes, self.image_size

    def bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The standardised values of pixel 0 and pixel 1, shaped (1, C, 1, 1)."""
        lo, hi = -self.mean / self.std, (1 - self.mean) / self.std
        return lo.view(1, -1, 1, 1), hi.view(1, -1, 1, 1)

    def to_pixels(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised images back to [0, 1] pixels (clipped), for pictures."""
        return (x * self.std.view(1, -1, 1, 1) + self.mean.view(1, -1, 1, 1)).clamp(0, 1)


def standardised_splits(name: str, loaded: dict[str, dict[str, Any]], cifar10_root: str | None = None) -> Splits:
    """``named_splits`` as standardised tensors (per-channel mean and std of the training split)."""
    train, test = named_splits(name, loaded, cifar10_root)
    x_train, y_train = train.tensors()
    x_test, y_test = test.tensors()
    mean = x_train.mean(dim=(0, 2, 3))
    std = x_train.std(dim=(0, 2, 3)).clamp_min(1e-6)
    view = (1, -1, 1, 1)
    return Splits(
        name=name,
        x_train=(x_train - mean.view(view)) / std.view(view),
        y_train=y_train,
        x_test=(x_test - mean.view(view)) / std.view(view),
        y_test=y_test,
        mean=mean,
        std=std,
        class_names=list(train.class_names),
    )
