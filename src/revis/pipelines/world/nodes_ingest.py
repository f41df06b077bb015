"""``world-ingest``: thin adapters over ``revis.world`` and ``revis.datasets``."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt

from revis.datasets.digits import sklearn_digits
from revis.datasets.imageset import ImageSet
from revis.datasets.voc import VocData
from revis.pipelines.world.params import DetectionParams, DigitsParams, ShapesParams
from revis.world.detection import generate_detection_world
from revis.world.pictures import detection_samples_figure, scenes_of, shapes_samples_figure
from revis.world.shapes import generate_shapes, world_rules
from revis.world.statistics import WorldMetrics, world_statistics


def _pair(values: list[int]) -> tuple[int, int]:
    return values[0], values[1]


def _range(values: list[float]) -> tuple[float, float]:
    return values[0], values[1]


def make_shapes(seed: int, p: ShapesParams) -> dict[str, Any]:
    """Shapes world train/test splits (CIFAR-10 layout on disk) with concept masks and rules."""

    def split(n: int, split_seed: int) -> ImageSet:
        return generate_shapes(n, split_seed, p.image_size, _pair(p.distractors), _range(p.radius), p.noise)

    return {"train": split(p.n_train, seed * 2 + 1), "test": split(p.n_test, seed * 2 + 2), "rules": world_rules()}


def make_digits(seed: int, p: DigitsParams) -> dict[str, ImageSet]:
    """scikit-learn digits, stratified train/test split."""
    return sklearn_digits(p.test_fraction, seed)


def make_detection(seed: int, p: DetectionParams) -> VocData:
    """Detection scenes with near-duplicate families, written in the Pascal VOC layout."""
    world = generate_detection_world(
        seed=seed,
        n_families=p.n_families,
        family_size=_pair(p.family_size),
        n_test_families=p.n_test_families,
        test_family_size=_pair(p.test_family_size),
        image_size=p.image_size,
        objects_per_scene=_pair(p.objects_per_scene),
        radius_range=_range(p.radius),
        class_frequencies=tuple(p.class_frequencies),
        jitter=p.jitter,
        clutter=_pair(p.clutter),
    )
    return VocData(class_names=world.class_names, split_ids=world.splits, scenes=world.scenes)


def report_metrics(shapes: dict[str, Any], digits: dict[str, ImageSet], detection: VocData) -> WorldMetrics:
    """Counts read back from disk: images and objects per class and split."""
    return world_statistics(shapes, digits, detection)


def plot_shapes(shapes: dict[str, Any]) -> plt.Figure:
    """Sample shapes images with their per-concept ground-truth masks."""
    return shapes_samples_figure(shapes["train"])


def plot_detection(detection: VocData) -> plt.Figure:
    """Sample detection scenes with their boxes, read back through the VOC reader."""
    return detection_samples_figure(scenes_of(detection, "train"))
