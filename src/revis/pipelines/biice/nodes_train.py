"""``biice-train``: every head x seed on the same patch backbone, the learning rate chosen per seed on its validation
split (``revis.concepts.rates``: probes of every rate of the grid, the chosen run trained on to its end and kept)."""

from __future__ import annotations

from typing import Any

from revis.concepts.data import load_concept_data, validation_split
from revis.concepts.runs import TrainJob, keep_best_rates, run_spec, train_cost, train_job
from revis.config.runtime import ComputeParams
from revis.curves import curve_key, log_history
from revis.pipelines.biice.params import DataParams, TrainParams
from revis.runtime import apply_runtime
from revis.workers import run_jobs

TRAIN_SETTINGS = {
    "epochs",
    "patience",
    "batch_size",
    "weight_decay",
    "warmup_epochs",
    "expl_weight",
    "expl_background",
    "sparsity_weight",
}  # TrainParams' fields every run trains with (ConceptTrainConfig; the rate comes from the grid)


def train_models(
    shapes: dict[str, Any], seeds: list[int], data: DataParams, compute: ComputeParams, train: TrainParams
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per seed: carve a validation split from the training split, train every head at every learning rate of
    its grid on the rest (probes of ``train.probe_epochs``), keep the rate with the best validation accuracy (the
    smaller of equals) and train it on to the stopping rule. Returns the kept models and every candidate's
    history. The test split is not read."""
    device = str(apply_runtime(compute.device, compute.threads))
    loaded = load_concept_data(shapes, data.dataset, data.root, data.image_size, data.rule_min_frequency)
    spec = run_spec(loaded.train, train.backbone.model_dump(), train.head.model_dump())
    config = train.model_dump(include=TRAIN_SETTINGS)
    splits = {seed: validation_split(loaded.train.labels, train.validation_fraction, seed) for seed in seeds}
    jobs = [
        TrainJob(spec, variant, tuple(train.lr_grid[variant]), seed, *splits[seed], config, train.probe_epochs, device)
        for seed in seeds
        for variant in train.variants
    ]
    results = run_jobs(  # the concept heads first (train_cost): the two workers end together
        train_job,
        [(job,) for job in jobs],
        compute.workers,
        desc="biice heads x seeds",
        shared=loaded.train,
        cost=lambda job: train_cost(job[0]),
    )
    results = [record for job_records in results for record in job_records]
    for result in results:  # per-epoch curves: the workers cannot reach the tracker
        log_history(result["history"], curve_key(f"{result['variant']}.lr{result['lr']:g}", result["seed"]), 1)
    return keep_best_rates(spec, results)
