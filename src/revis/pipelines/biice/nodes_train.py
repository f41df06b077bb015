"""``biice-train``: every head x seed x learning rate on the same patch backbone; the best rate per seed is kept."""

from __future__ import annotations

from typing import Any

from revis.concepts.data import load_concept_data, validation_split
from revis.concepts.runs import train_run
from revis.curves import curve_key, log_history
from revis.pipelines.biice.params import ComputeParams, DataParams, TrainParams
from revis.runtime import apply_runtime
from revis.workers import run_jobs


def train_models(
    shapes: dict[str, Any], data: DataParams, compute: ComputeParams, train: TrainParams
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per seed: carve a validation split from the training split, train every head at every learning rate of
    its grid on the rest, keep the rate with the best validation accuracy (first of equals). Returns the kept
    models and every run's history."""
    device = str(apply_runtime(compute.device, compute.threads))
    loaded = load_concept_data(shapes, data.dataset, data.root, data.image_size, data.rule_min_frequency)
    spec = {
        "backbone": train.backbone.model_dump(),
        "head": train.head.model_dump(),
        "shape": {
            "channels": loaded.train.channels,
            "classes": loaded.train.num_classes,
            "image_size": loaded.train.image_size,
            "concepts": len(loaded.train.concept_names),
        },
    }
    config = train.model_dump(
        include={
            "epochs",
            "batch_size",
            "weight_decay",
            "warmup_epochs",
            "expl_weight",
            "expl_background",
            "sparsity_weight",
        }
    )
    splits = {seed: validation_split(loaded.train.labels, train.validation_fraction, seed) for seed in train.seeds}
    jobs = [
        (spec, variant, lr, seed, *splits[seed], config, device)
        for seed in train.seeds
        for variant in train.variants
        for lr in train.lr_grid[variant]
    ]
    results = run_jobs(train_run, jobs, compute.workers, desc="biice heads x seeds x rates", shared=loaded.train)
    for result in results:  # per-epoch curves: the workers cannot reach the tracker
        log_history(result["history"], curve_key(f"{result['variant']}.lr{result['lr']:g}", result["seed"]), 1)
    kept: dict[str, dict[str, Any]] = {}
    for result in results:  # in grid order: the first of equal validation accuracies wins
        run = f"{result['variant']}/seed{result['seed']}"
        if run not in kept or result["validation_accuracy"] > kept[run]["validation_accuracy"]:
            kept[run] = result
    models = {
        **spec,
        "runs": {
            run: {k: r[k] for k in ("variant", "seed", "lr", "validation_accuracy", "state_dict")}
            for run, r in kept.items()
        },
    }
    histories = {
        f"{r['variant']}/seed{r['seed']}/lr{r['lr']:g}": {
            **r["history"],
            "lr": r["lr"],
            "validation_accuracy": r["validation_accuracy"],
            "kept": kept[f"{r['variant']}/seed{r['seed']}"] is r,
        }
        for r in results
    }
    return models, histories
