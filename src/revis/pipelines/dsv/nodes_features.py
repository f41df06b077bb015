"""``dsv-features``: the teachers θ*, one per (dataset, chain seed), trained towards a KKT point."""

from __future__ import annotations

from typing import Any

from revis.datasets.imageset import ImageSet
from revis.distill.config import RuntimeParams
from revis.distill.data import DataParams, load_splits
from revis.kkt.teacher import fit_teacher
from revis.pipelines.dsv.params import Teacher
from revis.runtime import apply_runtime
from revis.training import TrainConfig
from revis.workers import run_jobs


def train_teachers(
    shapes: dict[str, Any], digits: dict[str, ImageSet], data: DataParams, runtime: RuntimeParams, teacher: Teacher
) -> dict[str, Any]:
    """θ* per dataset and seed on the full training split: SGD with weight decay, then L-BFGS to stationarity."""
    device = apply_runtime(runtime.device, runtime.threads)
    recipe = TrainConfig(**teacher.model_dump(exclude={"model", "polish_iterations"}))
    jobs, keys = [], []
    for name, choice in data.datasets.items():
        splits = load_splits(name, shapes, digits, data)
        for seed in choice.seeds:
            keys.append(f"{name}/{seed}")
            jobs.append(
                {
                    "x": splits.x_train,
                    "y": splits.y_train,
                    "shape": splits.shape,
                    "model": teacher.model,
                    "train": recipe,
                    "polish_iterations": teacher.polish_iterations,
                    "seed": seed,
                    "device": str(device),
                }
            )
    workers = runtime.workers if device.type == "cpu" else 1
    runs = run_jobs(fit_teacher, [(job,) for job in jobs], workers=workers, desc="teachers")
    return {"model": teacher.model.model_dump(), "runs": dict(zip(keys, runs))}
