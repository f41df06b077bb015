"""``biice-attribute``: what every kept run computes on the test split (maps, contributions, traces, deletion)."""

from __future__ import annotations

from typing import Any

from revis.concepts.data import load_concept_data
from revis.concepts.runs import AttributeJob, attribute_job, split_test_set
from revis.config.runtime import ComputeParams
from revis.curves import curve_key, log_history
from revis.pipelines.biice.params import AttributeParams, DataParams
from revis.runtime import apply_runtime
from revis.workers import run_jobs


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
        AttributeJob(
            spec=spec,
            run=models["runs"][name],
            split=splits[models["runs"][name]["seed"]],
            trace_images=a.trace_images,
            trace_iterations=a.trace_iterations,
            deletion_steps=a.deletion_steps,
            random_orders=a.random_orders,
            device=device,
            rules=loaded.rules,
        )
        for name in names
    ]
    records = run_jobs(
        attribute_job, [(j,) for j in jobs], compute.workers, desc="biice runs on the test split", shared=test
    )
    for record in records:  # mean target logit per deleted-patch step
        deletion = {f"deletion_{order}": c.float().mean(0).tolist() for order, c in record.get("deletion", {}).items()}
        log_history(deletion, curve_key(record["variant"], record["seed"]))
    return {"splits": splits, "runs": dict(zip(names, records, strict=True))}
