"""``gig-features``: the images, then per seed a classifier and the PFVs sampled from it."""

from __future__ import annotations

from typing import Any

import numpy as np

from revis.attribution.study import features_seed
from revis.datasets.imagefolder import read_image_folder
from revis.datasets.imageset import ImageSet
from revis.pipelines.gig.params import Compute, Data, Features, Train
from revis.runtime import apply_runtime
from revis.workers import run_jobs


def select_images(shapes: dict[str, Any], data: Data) -> dict[str, ImageSet]:
    """The train/test images: the shapes world, or a stratified split of an ImageNet-format folder."""
    if data.source == "shapes":
        return {"train": shapes["train"], "test": shapes["test"]}
    full = read_image_folder(data.root, data.image_size, data.per_class, data.seed)
    rng = np.random.default_rng(data.seed)
    test = np.zeros(len(full), dtype=bool)
    for label in np.unique(full.labels):
        members = np.nonzero(full.labels == label)[0]
        test[rng.permutation(members)[: max(1, round(len(members) * data.test_fraction))]] = True
    return {"train": full.subset(np.nonzero(~test)[0]), "test": full.subset(np.nonzero(test)[0])}


def train_and_sample(
    images: dict[str, ImageSet], train: Train, features: Features, data: Data, compute: Compute
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per seed: a classifier (self-describing checkpoint) and its contribution-weighted PFVs, in seed order."""
    device = str(apply_runtime(compute.device, compute.threads))
    f = features
    jobs = [
        (
            train.model.model_dump(),
            train.epochs,
            train.batch_size,
            train.lr,
            seed,
            data.normalize,
            data.source,
            f.layers,
            f.n_images,
            f.per_image,
            f.uniform_share,
            device,
        )
        for seed in train.seeds
    ]
    results = run_jobs(features_seed, jobs, compute.workers, desc="gig networks and PFVs", shared=images)
    return [model for model, _ in results], [pfvs for _, pfvs in results]
