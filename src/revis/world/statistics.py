"""``reports/world/metrics.json``: counts of the mini world read back from disk (images and objects per class
and split), as typed results serialised by ``revis.reporting.results.to_json``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from revis.datasets.imageset import ImageSet
from revis.datasets.voc import VocData
from revis.world.pictures import scenes_of


@dataclass(frozen=True)
class ShapesSplit:
    images: int
    per_class: dict[str, int]  # class name -> images


@dataclass(frozen=True)
class ShapesStatistics:
    train: ShapesSplit
    test: ShapesSplit
    concept_pixel_fraction: dict[str, float]  # concept -> mean mask coverage of the training images (4 decimals)


@dataclass(frozen=True)
class DigitsSplit:
    images: int


@dataclass(frozen=True)
class DigitsStatistics:
    train: DigitsSplit
    test: DigitsSplit


@dataclass(frozen=True)
class DetectionSplit:
    images: int
    boxes: int
    boxes_per_class: dict[str, int]


@dataclass(frozen=True)
class DetectionStatistics:
    train: DetectionSplit
    test: DetectionSplit
    imbalance_ratio: float  # most / fewest training boxes of a class


@dataclass(frozen=True)
class WorldMetrics:
    shapes: ShapesStatistics
    digits: DigitsStatistics
    detection: DetectionStatistics
    scale: str  # the sizes, in words


def _shapes_split(data: ImageSet) -> ShapesSplit:
    counts = np.bincount(data.labels, minlength=data.num_classes).tolist()
    return ShapesSplit(images=len(data), per_class=dict(zip(data.class_names, counts)))


def _detection_split(detection: VocData, split: str) -> DetectionSplit:
    records = scenes_of(detection, split)
    boxes = Counter(o.name for r in records for o in r.objects)
    return DetectionSplit(
        images=len(records),
        boxes=sum(boxes.values()),
        boxes_per_class={name: boxes.get(name, 0) for name in detection.class_names},
    )


def world_statistics(shapes: dict[str, Any], digits: dict[str, ImageSet], detection: VocData) -> WorldMetrics:
    """The world's metrics: shapes, digits and detection counts per split, and the scale line."""
    train: ImageSet = shapes["train"]
    if train.concept_masks is None:
        raise ValueError("the shapes world's training split has no concept masks")
    fraction = train.concept_masks.mean(axis=(0, 2, 3)).round(4).tolist()
    detection_train, detection_test = _detection_split(detection, "train"), _detection_split(detection, "test")
    train_boxes = detection_train.boxes_per_class
    scale = (
        f"mini world: shapes {len(shapes['train'])}/{len(shapes['test'])} images of {train.image_size} px; "
        f"detection {detection_train.images}/{detection_test.images} scenes "
        f"(pool/test); digits {len(digits['train'])}/{len(digits['test'])}"
    )
    return WorldMetrics(
        shapes=ShapesStatistics(
            train=_shapes_split(shapes["train"]),
            test=_shapes_split(shapes["test"]),
            concept_pixel_fraction=dict(zip(train.concept_names, fraction)),
        ),
        digits=DigitsStatistics(
            train=DigitsSplit(images=len(digits["train"])), test=DigitsSplit(images=len(digits["test"]))
        ),
        detection=DetectionStatistics(
            train=detection_train,
            test=detection_test,
            imbalance_ratio=max(train_boxes.values()) / max(1, min(train_boxes.values())),
        ),
        scale=scale,
    )
