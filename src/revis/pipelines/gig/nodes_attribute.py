"""``gig-attribute``: per seed, concept vectors per layer, then GIG between layers and to the classes."""

from __future__ import annotations

from typing import Any

from revis.attribution.study import attribute_chain
from revis.curves import curve_key, log_curve
from revis.datasets.imageset import ImageSet
from revis.pipelines.gig.params import Attribute, Compute, Concepts
from revis.runtime import apply_runtime
from revis.workers import run_jobs


def attribute_pathways(
    models: list[dict[str, Any]],
    pfvs: list[dict[str, Any]],
    images: dict[str, ImageSet],
    concepts: Concepts,
    attribute: Attribute,
    compute: Compute,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per seed: bisecting k-means, dictionary learning and random concept vectors per layer (one Lasso lam);
    on the seed's test subset the coefficients of each, GIG between consecutive layers and to the class."""
    device = str(apply_runtime(compute.device, compute.threads))
    c = concepts
    jobs = [
        (model, sample, c.ratio, c.lasso_alpha, c.dictlearn_iter, c.positive, attribute.model_dump(), device)
        for model, sample in zip(models, pfvs, strict=True)
    ]
    results = run_jobs(attribute_chain, jobs, compute.workers, desc="concepts and GIG per seed", shared=images["test"])
    for _, pathway in results:  # GIG's relative completeness gap against its number of integration steps
        for pair, gaps in pathway["sweep"].items():
            for steps, gap in gaps.items():
                log_curve({"completeness_gap": gap}, int(steps), curve_key(f"gig.{pair}", pathway["seed"]))
    return [fitted for fitted, _ in results], [pathway for _, pathway in results]
