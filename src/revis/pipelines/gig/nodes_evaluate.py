"""``gig-evaluate``: faithfulness, reconstruction and ground-truth alignment per seed; metrics; pictures."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt

from revis.attribution.metrics import GigMetrics, summarize_pathways
from revis.attribution.pictures import (
    PathwayPictures,
    completeness_plot,
    deletion_insertion_plot,
    pathway_pictures,
)
from revis.attribution.rules import chance_precision, world_rules
from revis.attribution.study import EvaluateJob, evaluate_job
from revis.config.runtime import ComputeParams
from revis.datasets.imageset import ImageSet
from revis.pipelines.gig.params import Attribute, Evaluate
from revis.runtime import apply_runtime
from revis.workers import run_jobs


def _rules(shapes: dict[str, Any], test: ImageSet) -> list[list[int]] | None:
    """The world's class -> concept rules on the test split's names (None for images without stated rules)."""
    return world_rules(shapes.get("rules", {}), test.class_names, test.concept_names)


def evaluate_pathways(
    models: list[dict[str, Any]],
    images: dict[str, ImageSet],
    shapes: dict[str, Any],
    concepts: list[dict[str, Any]],
    pathways: list[dict[str, Any]],
    evaluate: Evaluate,
    compute: ComputeParams,
) -> list[dict[str, Any]]:
    """Per seed: inter-layer deletion/insertion per order, C-insertion - C-deletion, reconstruction, alignment,
    and where the world states its rules, how well each class's concept pathway recovers them."""
    device = str(apply_runtime(compute.device, compute.threads))
    rules = _rules(shapes, images["test"])
    jobs = [
        EvaluateJob(
            checkpoint=model,
            concepts=concept,
            pathway=pathway,
            targets_per_pair=evaluate.targets_per_pair,
            curve_points=evaluate.curve_points,
            alignment_concepts=evaluate.alignment_concepts,
            alignment_max_images=evaluate.alignment_max_images,
            min_images=evaluate.min_images,
            device=device,
            rules=rules,
        )
        for model, concept, pathway in zip(models, concepts, pathways, strict=True)
    ]
    return run_jobs(
        evaluate_job, [(job,) for job in jobs], compute.workers, desc="evaluation per seed", shared=images["test"]
    )


def report_metrics(
    models: list[dict[str, Any]],
    images: dict[str, ImageSet],
    shapes: dict[str, Any],
    concepts: list[dict[str, Any]],
    pathways: list[dict[str, Any]],
    evaluation: list[dict[str, Any]],
    attribute: Attribute,
) -> GigMetrics:
    """reports/gig/metrics.json: every measure as mean and sample sd over the seeds (values kept, paired by seed)."""
    rules = _rules(shapes, images["test"])
    return summarize_pathways(
        models,
        concepts,
        pathways,
        evaluation,
        steps_sweep=attribute.steps_sweep,
        n_steps=attribute.n_steps,
        method=attribute.method,
        rule_chance=None if rules is None else chance_precision(rules, len(images["test"].concept_names)),
    )


def draw_concept_pictures(
    models: list[dict[str, Any]],
    images: dict[str, ImageSet],
    concepts: list[dict[str, Any]],
    pathways: list[dict[str, Any]],
    evaluate: Evaluate,
) -> tuple[plt.Figure, plt.Figure]:
    """The first seed's concept atlas (gradient-ERF crops of each layer's most important concepts) and
    concept graph (layer-to-layer edges = mean GIG over its test images)."""
    settings = PathwayPictures(
        atlas_concepts=evaluate.atlas_concepts,
        atlas_crops=evaluate.atlas_crops,
        graph_nodes=evaluate.graph_nodes,
        graph_edges=evaluate.graph_edges,
        alignment_max_images=evaluate.alignment_max_images,
        min_images=evaluate.min_images,
    )
    return pathway_pictures(models[0], images["test"], concepts[0], pathways[0], settings)


def draw_completeness(pathways: list[dict[str, Any]]) -> plt.Figure:
    """Relative completeness gap against the number of Riemann steps, per path (first seed)."""
    return completeness_plot(
        pathways[0]["sweep"],
        f"GIG completeness (seed {pathways[0]['seed']}): |sum GIG - (g(F(X~)) - g(F(0)))| / |g(F(X~)) - g(F(0))|",
    )


def draw_deletion_insertion(evaluation: list[dict[str, Any]]) -> plt.Figure:
    """Mean normalized inter-layer deletion and insertion curves per concept order (first seed)."""
    inter = evaluation[0]["inter_layer"]
    return deletion_insertion_plot(
        {pair: result["curves"] for pair, result in inter.items()},
        f"inter-layer deletion (lower is better) and insertion (higher is better), seed {evaluation[0]['seed']}",
        {pair: result["fractions"] for pair, result in inter.items()},
    )
