"""``dsv-select``: λ of every real training sample per teacher, and the top-λ / random subsets per class."""

from __future__ import annotations

from typing import Any

from revis.datasets.imageset import ImageSet
from revis.distill.config import RuntimeParams
from revis.distill.data import DataParams, load_splits
from revis.kkt.real import fit_real_job, random_per_class, top_lambda_per_class
from revis.pipelines.dsv.params import Select
from revis.runtime import apply_runtime
from revis.workers import run_jobs


def rank_training_sets(
    teachers: dict[str, Any],
    shapes: dict[str, Any],
    digits: dict[str, ImageSet],
    data: DataParams,
    runtime: RuntimeParams,
    select: Select,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """λ per (dataset, seed) with the images fixed; subsets ``{kind: {k: indices}}`` per (dataset, seed)."""
    apply_runtime(runtime.device, runtime.threads)
    jobs, keys, labels = [], [], {}
    for name, choice in data.datasets.items():
        splits = load_splits(name, shapes, digits, data)
        labels[name] = splits.y_train
        for seed in choice.seeds:
            run = teachers["runs"][f"{name}/{seed}"]
            keys.append((name, seed))
            jobs.append(
                {
                    "model": teachers["model"],
                    "shape": run["shape"],
                    "state_dict": run["state_dict"],
                    "weight_decay": run["weight_decay"],
                    "x": splits.x_train,
                    "y": splits.y_train,
                    **select.model_dump(include={"steps", "lr", "distance", "parameters", "chunk_size", "method"}),
                }
            )
    # λ fits of fixed images cost a second or two each on CPU: inline beats spawning workers
    workers = runtime.workers if sum(len(job["y"]) for job in jobs) > 100_000 else 1
    results = run_jobs(fit_real_job, [(job,) for job in jobs], workers=workers, desc="lambda")
    lambdas, subsets = {}, {}
    for (name, seed), result in zip(keys, results):
        y = labels[name]
        lambdas[f"{name}/{seed}"] = {**result, "labels": y}
        subsets[f"{name}/{seed}"] = {
            "top_lambda": {str(k): top_lambda_per_class(result["lam"], y, k).tolist() for k in select.sizes},
            "random": {str(k): random_per_class(y, k, seed).tolist() for k in select.sizes},
        }
    return lambdas, subsets
