"""``dsv-features``: the teachers θ*, one per (dataset, chain seed), trained towards a KKT point."""

from __future__ import annotations

from typing import Any

from revis.config.runtime import ComputeParams
from revis.datasets.imageset import ImageSet
from revis.distill.chain import Chain
from revis.distill.data import DataParams, load_splits
from revis.kkt.teacher import TeacherBundle, TeacherJob, fit_teacher
from revis.pipelines.dsv.params import Teacher
from revis.runtime import apply_runtime
from revis.workers import run_jobs


def train_teachers(
    shapes: dict[str, Any],
    digits: dict[str, ImageSet],
    seeds: dict[str, list[int]],
    data: DataParams,
    compute: ComputeParams,
    teacher: Teacher,
) -> TeacherBundle:
    """θ* per dataset and seed on the full training split: SGD with weight decay, then L-BFGS to stationarity."""
    device = apply_runtime(compute.device, compute.threads)
    chains, jobs = [], []
    for name, listed in seeds.items():
        splits, recipe = load_splits(name, shapes, digits, data), teacher.recipe(name)
        for seed in listed:
            chains.append(Chain(name, seed))
            x, y = splits.x_train, splits.y_train
            jobs.append(
                TeacherJob(x, y, splits.shape, teacher.model, recipe, teacher.polish_iterations, seed, str(device))
            )
    workers = compute.workers if device.type == "cpu" else 1
    # largest first (shapes: 2.4x the images of digits, 4x the pixels): the two workers end together
    cost = lambda job: len(job[0].y) * job[0].x.shape[-1] ** 2  # noqa: E731
    runs = run_jobs(fit_teacher, [(job,) for job in jobs], workers=workers, cost=cost, desc="teachers")
    return {"model": teacher.model.model_dump(), "runs": {str(chain): run for chain, run in zip(chains, runs)}}
