"""How the distillation pipelines (dsv, dkkt) load their datasets.

Both pipelines read the same loading settings (``dsv.data`` in params.yaml): the dsv teachers
are trained per (dataset, seed) and dkkt reuses them. Images are standardized per channel with the
training split's statistics (as the reference's ``transforms.Normalize``); a dataset may be
resized (area averaging) to fit the CPU budget, which the README states.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F

from revis.datasets.imageset import ImageSet
from revis.datasets.named import Splits, standardised_splits
from revis.distill.config import DataParams, DatasetName

__all__ = ["DataParams", "DatasetName", "load_splits"]


def load_splits(name: str, shapes: dict[str, Any], digits: dict[str, ImageSet], data: DataParams) -> Splits:
    """Standardized (train, test) tensors of dataset ``name``, resized when ``data.image_size`` names it."""
    splits = standardised_splits(name, {"shapes": shapes, "digits": digits}, data.cifar10_root)
    size = data.image_size_of(name)
    if size is not None and size != splits.image_size:
        splits.x_train = F.interpolate(splits.x_train, size=(size, size), mode="area")
        splits.x_test = F.interpolate(splits.x_test, size=(size, size), mode="area")
    return splits
