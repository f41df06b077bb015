"""``biice-attribute``: what every kept run computes on the test split (maps, contributions, traces, deletion)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from revis.concepts.data import load_concept_data
from revis.concepts.runs import attribute_run
from revis.curves import curve_key, log_history
from revis.pipelines.biice.params import AttributeParams, ComputeParams, DataParams
from revis.runtime import apply_runtime
from revis.workers import run_jobs


def split_test_set(labels: np.ndarray, match_fraction: float, pictures: int, deletions: int, seed: int) -> dict:
    """Per seed: the test images that match slots to concepts, the held-out rest the metrics use, and the
    held-out images drawn (cycling through the classes) and deleted."""
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    cut = round(match_fraction * len(labels))
    match, held_out = order[:cut].sort().values, order[cut:].sort().values
    chosen: list[int] = []
    pools = {c: [int(i) for i in held_out if labels[i] == c] for c in np.unique(labels)}
    while len(chosen) < pictures and any(pools.values()):
        for pool in pools.values():
            if pool and len(chosen) < pictures:
                chosen.append(pool.pop(0))
    return {
        "match_index": match,
        "eval_index": held_out,
        "picture_index": torch.tensor(chosen, dtype=torch.int64),
        "deletion_index": held_out[:deletions],
    }


def attribute_models(
    models: dict[str, Any], shapes: dict[str, Any], data: DataParams, compute: ComputeParams, attribute: AttributeParams
) -> dict[str, Any]:
    """Per kept run on the test split: logits; for Bi-ICE heads maps A, contributions, binding traces, deletion curves."""
    device = str(apply_runtime(compute.device, compute.threads))
    loaded = load_concept_data(shapes, data.dataset, data.root, data.image_size, data.rule_min_frequency)
    test = loaded.test
    seeds = sorted({run["seed"] for run in models["runs"].values()})
    a = attribute
    splits = {s: split_test_set(test.labels, a.match_fraction, a.picture_images, a.deletion_images, s) for s in seeds}
    spec = {key: models[key] for key in ("backbone", "head", "shape")}
    names = sorted(models["runs"])
    jobs = [
        (
            spec,
            models["runs"][name],
            splits[models["runs"][name]["seed"]]["eval_index"],
            splits[models["runs"][name]["seed"]]["picture_index"],
            splits[models["runs"][name]["seed"]]["deletion_index"],
            a.trace_images,
            a.trace_iterations,
            a.deletion_steps,
            a.random_orders,
            1000 * models["runs"][name]["seed"],
            device,
        )
        for name in names
    ]
    records = run_jobs(attribute_run, jobs, compute.workers, desc="biice runs on the test split", shared=test)
    for record in records:  # mean target logit per deleted-patch step
        deletion = {f"deletion_{order}": c.float().mean(0).tolist() for order, c in record.get("deletion", {}).items()}
        log_history(deletion, curve_key(record["variant"], record["seed"]))
    return {"splits": splits, "runs": dict(zip(names, records, strict=True))}
