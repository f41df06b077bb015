"""``gig-features``: the images, then per seed a classifier and the PFVs sampled from it."""

from __future__ import annotations

from typing import Any

from revis.attribution.study import FeaturesJob, features_seed, stratified_split
from revis.config.runtime import ComputeParams
from revis.datasets.imagefolder import read_image_folder
from revis.datasets.imageset import ImageSet
from revis.pipelines.gig.params import Data, Features, Train
from revis.runtime import apply_runtime
from revis.workers import run_jobs


def select_images(shapes: dict[str, Any], data: Data) -> dict[str, ImageSet]:
    """The train/test images: the shapes world, or a stratified split of an ImageNet-format folder."""
    if data.source == "shapes":
        return {"train": shapes["train"], "test": shapes["test"]}
    assert data.root is not None  # the schema asks for a root with source 'imagefolder'
    full = read_image_folder(data.root, data.image_size, data.per_class, data.seed)
    return stratified_split(full, data.test_fraction, data.seed)


def train_and_sample(
    images: dict[str, ImageSet],
    seeds: list[int],
    train: Train,
    features: Features,
    data: Data,
    compute: ComputeParams,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per seed: a classifier (self-describing checkpoint) and its contribution-weighted PFVs, in seed order."""
    device = str(apply_runtime(compute.device, compute.threads))
    jobs = [
        FeaturesJob(
            seed=seed,
            model=train.model.model_dump(),
            epochs=train.epochs,
            batch_size=train.batch_size,
            lr=train.lr,
            normalize=data.normalize,
            source=data.source,
            layers=features.layers,
            n_images=features.n_images,
            per_image=features.per_image,
            uniform_share=features.uniform_share,
            device=device,
        )
        for seed in seeds
    ]
    results = run_jobs(
        features_seed, [(job,) for job in jobs], compute.workers, desc="gig networks and PFVs", shared=images
    )
    return [model for model, _ in results], [pfvs for _, pfvs in results]
