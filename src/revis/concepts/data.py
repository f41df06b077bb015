"""The images a concept classifier is trained and measured on, with each class's defining concepts.

The shapes world states its rules (``world.json``: each class is two concepts of one object);
for CIFAR-100 (superclasses, fine classes as concepts) and CUB-200-2011 (312 attributes) the
rules are derived from concept frequencies in the training split (``derive_rules``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from revis.concepts.contributions import derive_rules
from revis.datasets.imageset import ImageSet


@dataclass
class ConceptData:
    train: ImageSet
    test: ImageSet
    rules: list[list[int]]  # class -> indices of the concepts that define it
    source: str


def load_concept_data(
    shapes: dict[str, Any] | None,
    dataset: Literal["shapes", "cifar100", "cub"] = "shapes",
    root: str | None = None,
    image_size: int = 224,
    rule_min_frequency: float = 0.1,
) -> ConceptData:
    """The shapes world (rules from world.json), or CIFAR-100 / CUB read from the local folder ``root``."""
    if dataset == "shapes":
        if shapes is None:
            raise ValueError("dataset 'shapes' needs the shapes world")
        train, test = shapes["train"], shapes["test"]
        by_class = shapes["rules"]["classes"]
        rules = [[train.concept_names.index(c) for c in by_class[name]] for name in train.class_names]
        return ConceptData(train, test, rules, "shapes world")
    if root is None:
        raise ValueError(f"dataset '{dataset}' needs 'root', the local folder holding it")
    if dataset == "cifar100":
        from revis.datasets.cifar import read_cifar100_concepts

        train, test = (read_cifar100_concepts(root, split) for split in ("train", "test"))
    else:
        from revis.datasets.cub import read_cub

        train, test = (read_cub(root, split, image_size) for split in ("train", "test"))
    if train.concept_presence is None:
        raise ValueError(f"dataset '{dataset}': the training split has no concept presence labels")
    rules = derive_rules(train.concept_presence, train.labels, train.num_classes, rule_min_frequency)
    return ConceptData(train, test, rules, dataset)


def validation_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(fit, validation) indices of a training split, stratified by class and seeded; both sorted."""
    rng = np.random.default_rng(seed)
    held = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        held.append(members[: max(1, round(fraction * len(members)))])
    validation = np.sort(np.concatenate(held))
    fit = np.setdiff1d(np.arange(len(labels)), validation)
    return fit, validation
