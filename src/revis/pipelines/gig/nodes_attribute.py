"""``gig-attribute``: per seed, concept vectors per layer, then GIG between layers and to the classes."""

from __future__ import annotations

from typing import Any

from revis.attribution.study import AttributeJob, AttributeSettings, attribute_chain
from revis.config.runtime import ComputeParams
from revis.curves import curve_key, log_curve
from revis.datasets.imageset import ImageSet
from revis.pipelines.gig.params import Attribute, Concepts
from revis.runtime import apply_runtime
from revis.workers import run_jobs


def attribute_pathways(
    models: list[dict[str, Any]],
    pfvs: list[dict[str, Any]],
    images: dict[str, ImageSet],
    concepts: Concepts,
    attribute: Attribute,
    compute: ComputeParams,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per seed: bisecting k-means, dictionary learning, sparse-autoencoder and random concept vectors per layer
    (one Lasso lam);
    on the seed's test subset the coefficients of each, GIG between consecutive layers and to the class."""
    device = str(apply_runtime(compute.device, compute.threads))
    settings = AttributeSettings(**attribute.model_dump())
    jobs = [
        AttributeJob(
            checkpoint=model,
            pfvs=sample,
            ratio=concepts.ratio,
            lasso_alpha=concepts.lasso_alpha,
            dictlearn_iter=concepts.dictlearn_iter,
            positive=concepts.positive,
            sae_steps=concepts.sae_steps,
            sae_lr=concepts.sae_lr,
            attribute=settings,
            device=device,
        )
        for model, sample in zip(models, pfvs, strict=True)
    ]
    results = run_jobs(
        attribute_chain,
        [(job,) for job in jobs],
        compute.workers,
        desc="concepts and GIG per seed",
        shared=images["test"],
    )
    for _, pathway in results:  # GIG's relative completeness gap against its number of integration steps
        for pair, gaps in pathway["sweep"].items():
            for steps, gap in gaps.items():
                log_curve({"completeness_gap": gap}, int(steps), curve_key(f"gig.{pair}", pathway["seed"]))
    return [fitted for fitted, _ in results], [pathway for _, pathway in results]
