"""Which datasets the distillation pipelines (dsv, dkkt) run on, with which chain seeds, and how they are loaded.

Both pipelines read the same choice (``dsv.data`` in params.yaml): the dsv teachers are
trained per (dataset, seed) and dkkt reuses them. Images are standardised per channel with the
training split's statistics (as the reference's ``transforms.Normalize``); a dataset may be
resized (area averaging) to fit the CPU budget, which the README states.
"""

from __future__ import annotations

from typing import Any, Literal

import torch.nn.functional as F
from pydantic import BaseModel, Field, model_validator

from revis.config.types import STRICT, DataPath, Seed
from revis.datasets.imageset import ImageSet
from revis.datasets.named import Splits, standardised_splits

DatasetName = Literal["digits", "shapes", "cifar10"]


class DatasetChoice(BaseModel):
    """One dataset: the chain seeds run on it, and an optional smaller image side."""

    model_config = STRICT
    seeds: list[Seed] = Field(min_length=1, max_length=50)
    image_size: int | None = Field(None, ge=4, le=512)  # resize (area averaging); null: as stored


class DataParams(BaseModel):
    """The datasets (each with its seeds); CIFAR-10 is read from a local folder of official batches."""

    model_config = STRICT
    datasets: dict[DatasetName, DatasetChoice] = Field(min_length=1)
    cifar10_root: DataPath = None  # the local cifar-10-batches-py folder (python -m revis.datasets.fetch cifar10)

    @model_validator(mode="after")
    def _cifar_needs_a_folder(self) -> DataParams:
        if "cifar10" in self.datasets and not self.cifar10_root:
            raise ValueError("cifar10_root must name the local cifar-10-batches-py folder when datasets holds cifar10")
        return self


def load_splits(name: str, shapes: dict[str, Any], digits: dict[str, ImageSet], data: DataParams) -> Splits:
    """Standardised (train, test) tensors of dataset ``name``, resized when its choice says so."""
    splits = standardised_splits(name, {"shapes": shapes, "digits": digits}, data.cifar10_root)
    size = data.datasets[name].image_size if name in data.datasets else None
    if size is not None and size != splits.image_size:
        splits.x_train = F.interpolate(splits.x_train, size=(size, size), mode="area")
        splits.x_test = F.interpolate(splits.x_test, size=(size, size), mode="area")
    return splits
