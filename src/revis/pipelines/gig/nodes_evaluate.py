"""``gig-evaluate``: faithfulness, reconstruction and ground-truth alignment per seed; metrics; pictures."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch

from revis.attribution.alignment import concept_alignment
from revis.attribution.concepts import DECOMPOSITIONS, ConceptBasis
from revis.attribution.gig import GigResult
from revis.attribution.layered import network_from_checkpoint
from revis.attribution.pathways import ORDERS
from revis.attribution.pictures import (
    atlas_rows,
    completeness_plot,
    concept_atlas,
    concept_graph,
    concept_importance,
    concept_labels,
    deletion_insertion_plot,
    graph_edges,
)
from revis.attribution.study import CLASS_DECOMPOSITIONS, evaluate_seed, pair_key, pairs
from revis.datasets.imageset import ImageSet
from revis.pipelines.gig.params import Attribute, Compute, Evaluate
from revis.reporting.summary import mean_std
from revis.runtime import apply_runtime
from revis.workers import run_jobs


def evaluate_pathways(
    models: list[dict[str, Any]],
    images: dict[str, ImageSet],
    concepts: list[dict[str, Any]],
    pathways: list[dict[str, Any]],
    evaluate: Evaluate,
    compute: Compute,
) -> list[dict[str, Any]]:
    """Per seed: inter-layer deletion/insertion per order, C-insertion - C-deletion, reconstruction, alignment."""
    device = str(apply_runtime(compute.device, compute.threads))
    e = evaluate
    jobs = [
        (
            model,
            concept,
            pathway,
            e.targets_per_pair,
            e.curve_points,
            e.alignment_concepts,
            e.alignment_max_images,
            e.min_images,
            device,
        )
        for model, concept, pathway in zip(models, concepts, pathways, strict=True)
    ]
    return run_jobs(evaluate_seed, jobs, compute.workers, desc="evaluation per seed", shared=images["test"])


# --- metrics ------------------------------------------------------------------------------------
def _sample(by_seed: dict[int, float | None]) -> dict[str, Any]:
    """mean_std over the seeds with a finite value (a seed without one is left out, with its seed)."""
    kept = {s: float(v) for s, v in by_seed.items() if v is not None and np.isfinite(v)}
    if not kept:
        return {"mean": None, "std": None, "n": 0, "values": [], "seeds": []}
    seeds = sorted(kept)
    return mean_std([kept[s] for s in seeds], seeds)


def _mean(values: list[float | None]) -> float | None:
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(finite)) if finite else None


def _gap(result: dict[str, torch.Tensor]) -> float:
    return GigResult(result["gig"], result["delta"], result["full"], result["zero"]).relative_gap()


def summarise(
    models: list[dict[str, Any]],
    concepts: list[dict[str, Any]],
    pathways: list[dict[str, Any]],
    evaluation: list[dict[str, Any]],
    attribute: Attribute,
) -> dict[str, Any]:
    """reports/gig/metrics.json: every measure as mean and sample sd over the seeds (values kept, paired by seed)."""
    seeds = [int(m["seed"]) for m in models]
    layers = pathways[0]["layers"]
    pair_keys = [pair_key(a, b) for a, b in pairs(layers)]
    class_keys = [pair_key(a, "class") for a in layers]
    # the last layer's head is affine (pooling + linear): GIG is exact there, reported but not averaged
    nonlinear = pair_keys + class_keys[:-1]

    def per_seed(read) -> dict[int, float | None]:
        return {s: read(p, e) for s, p, e in zip(seeds, pathways, evaluation, strict=True)}

    gaps = {
        s: {
            **{key: _gap(p["pairs"][key]) for key in pair_keys},
            **{pair_key(a, "class"): _gap(p["to_class"]["kmeans"][a]) for a in layers},
        }
        for s, p in zip(seeds, pathways, strict=True)
    }
    completeness = {
        "at_default_steps": {
            **{key: _sample({s: gaps[s][key] for s in seeds}) for key in pair_keys + class_keys},
            "average": _sample({s: _mean([gaps[s][k] for k in nonlinear]) for s in seeds}),
        },
        "sweep_average": {
            f"m{m}": _sample(per_seed(lambda p, e, m=m: _mean([p["sweep"][k][m] for k in nonlinear])))
            for m in attribute.steps_sweep
        },
    }

    def inter(p_key: str | None, order: str, measure: str):
        def read(_p, e):
            summaries = [e["inter_layer"][k]["summary"] for k in ([p_key] if p_key else pair_keys)]
            return _mean([sm[order][measure] for sm in summaries if order in sm])

        return _sample(per_seed(read))

    inter_layer: dict[str, Any] = {
        key: {o: {"ins_minus_del": inter(key, o, "ins_minus_del")} for o in ORDERS} for key in pair_keys
    }
    inter_layer["average"] = {
        o: {m: inter(None, o, m) for m in ("deletion", "insertion", "ins_minus_del")} for o in ORDERS
    }
    inter_layer["targets_measured"] = {
        key: int(sum(e["inter_layer"][key]["summary"].get("gig", {}).get("n_targets", 0) for e in evaluation))
        for key in pair_keys
    }
    to_class: dict[str, Any] = {
        a: {
            kind: _sample(per_seed(lambda _p, e, a=a, kind=kind: e["to_class"][a][kind]["ins_minus_del"]))
            for kind in CLASS_DECOMPOSITIONS
        }
        for a in layers
    }
    to_class["average"] = {
        kind: _sample(
            per_seed(lambda _p, e, kind=kind: _mean([e["to_class"][a][kind]["ins_minus_del"] for a in layers]))
        )
        for kind in CLASS_DECOMPOSITIONS
    }
    reconstruction: dict[str, Any] = {
        a: {
            kind: {
                measure: _sample(per_seed(lambda _p, e, a=a, k=kind, m=measure: e["reconstruction"][a][k][m]))
                for measure in ("error", "prediction_agreement")
            }
            for kind in DECOMPOSITIONS
        }
        for a in layers
    }
    reconstruction["average"] = {
        kind: _sample(per_seed(lambda _p, e, kind=kind: _mean([e["reconstruction"][a][kind]["error"] for a in layers])))
        for kind in DECOMPOSITIONS
    }
    first = models[0]["model"]
    metrics: dict[str, Any] = {
        "model": {
            "test_accuracy": mean_std([m["test_accuracy"] for m in models], seeds),
            "concepts_per_layer": {a: len(concepts[0]["bases"][a]["kmeans"]["vectors"]) for a in layers},
        },
        "completeness": completeness,
        "inter_layer": inter_layer,
        "concept_to_class": to_class,
        "reconstruction": reconstruction,
    }
    if all(e["alignment"] is not None for e in evaluation):
        alignment: dict[str, Any] = {
            a: {
                kind: {
                    measure: _sample(per_seed(lambda _p, e, a=a, k=kind, m=measure: e["alignment"][a][k][m]))
                    for measure in ("mean_iou", "mean_pointing")
                }
                for kind in ("kmeans", "random")
            }
            for a in layers
        }
        alignment["average"] = {
            kind: {
                measure: _sample(
                    per_seed(lambda _p, e, k=kind, m=measure: _mean([e["alignment"][a][k][m] for a in layers]))
                )
                for measure in ("mean_iou", "mean_pointing")
            }
            for kind in ("kmeans", "random")
        }
        metrics["alignment"] = alignment
    arch = (
        f"{first['name']} w{first['width']} d{first['depth']} {first['norm']}"
        if first["name"] == "convnet"
        else first["name"]
    )
    ks = sorted(set(metrics["model"]["concepts_per_layer"].values()))
    where = "mini world CPU: shapes" if models[0].get("source", "shapes") == "shapes" else "ImageNet-format folder"
    metrics["scale"] = (
        f"{where}; {arch}; {len(seeds)} seeds (network, PFVs, concepts, test subset); {len(layers)} layers, "
        f"k={'/'.join(map(str, ks))} concepts per layer; GIG on {len(pathways[0]['classes'])} test images per seed, "
        f"m={attribute.n_steps} {attribute.method}"
    )
    return metrics


# --- pictures (the first seed) ------------------------------------------------------------------
def _shown(pathway: dict[str, Any], layer: str, count: int) -> list[int]:
    importance = concept_importance(pathway["to_class"]["kmeans"][layer]["gig"])
    return torch.argsort(importance, descending=True)[:count].tolist()


def _labels(
    model: dict[str, Any], test: ImageSet, concepts: dict[str, Any], pathway: dict[str, Any], shown, e: Evaluate
) -> dict[str, list[str]]:
    """Labels of the drawn concepts: their best-matching ground-truth concept where the images have masks."""
    if test.concept_masks is None:
        return {a: concept_labels(q, None, None) for a, q in shown.items()}
    net = network_from_checkpoint(model)
    x = test.tensors()[0]
    masks = torch.from_numpy(test.concept_masks)
    labels = {}
    for a, chosen in shown.items():
        basis = ConceptBasis.from_dict(concepts["bases"][a]["kmeans"])
        match = concept_alignment(
            net.head(a),
            x,
            pathway["coefficients"]["kmeans"][a],
            basis.tensor(x),
            masks,
            torch.tensor(chosen),
            e.alignment_max_images,
            min(e.min_images, 2),
        )
        labels[a] = concept_labels(chosen, match, test.concept_names)
    return labels


def draw_concept_pictures(
    models: list[dict[str, Any]],
    images: dict[str, ImageSet],
    concepts: list[dict[str, Any]],
    pathways: list[dict[str, Any]],
    evaluate: Evaluate,
) -> tuple[plt.Figure, plt.Figure]:
    """The first seed's concept atlas (gradient-ERF crops of each layer's most important concepts) and
    concept graph (layer-to-layer edges = mean GIG over its test images)."""
    model, concept, pathway = models[0], concepts[0], pathways[0]
    layers = pathway["layers"]
    test = images["test"].subset(pathway["index"].numpy())
    count = max(evaluate.atlas_concepts, evaluate.graph_nodes)
    ranked = {a: _shown(pathway, a, count) for a in layers}
    labels = _labels(model, test, concept, pathway, ranked, evaluate)
    net = network_from_checkpoint(model)
    x = test.tensors()[0]
    n_atlas = evaluate.atlas_concepts
    groups = {
        a: atlas_rows(
            net.head(a),
            test.images,
            x,
            pathway["coefficients"]["kmeans"][a],
            ConceptBasis.from_dict(concept["bases"][a]["kmeans"]).tensor(x),
            ranked[a][:n_atlas],
            labels[a][:n_atlas],
            evaluate.atlas_crops,
        )
        for a in layers
    }
    atlas = concept_atlas(
        groups,
        f"concept atlas (seed {pathway['seed']}): most important concepts per layer (mean |GIG| to the class), "
        "gradient-ERF crops of their strongest PFVs; label: best-matching ground-truth concept and its IoU",
    )
    n_graph = evaluate.graph_nodes
    shown = {a: ranked[a][:n_graph] for a in layers}
    classes = pathway["classes"]
    counts = torch.bincount(classes, minlength=test.num_classes)
    class_ids = [int(c) for c in torch.argsort(counts, descending=True)[:n_graph] if counts[c] > 0]
    edges = graph_edges(
        layers,
        shown,
        {
            (a, b): (pathway["pairs"][pair_key(a, b)]["gig"], pathway["pairs"][pair_key(a, b)]["targets"])
            for a, b in pairs(layers)
        },
        pathway["to_class"]["kmeans"][layers[-1]]["gig"][:, 0],
        classes,
        class_ids,
        evaluate.graph_edges,
    )
    graph = concept_graph(
        layers,
        {a: labels[a][:n_graph] for a in layers},
        edges,
        [test.class_names[c] for c in class_ids],
        f"concept pathway (seed {pathway['seed']}): top-{evaluate.graph_edges} incoming GIG edges per node "
        "(red +, blue -), means over the test images",
    )
    return atlas, graph


def draw_completeness(pathways: list[dict[str, Any]]) -> plt.Figure:
    """Relative completeness gap against the number of Riemann steps, per path (first seed)."""
    return completeness_plot(
        pathways[0]["sweep"],
        f"GIG completeness (seed {pathways[0]['seed']}): |sum GIG - (g(F(X~)) - g(F(0)))| / |g(F(X~)) - g(F(0))|",
    )


def draw_deletion_insertion(evaluation: list[dict[str, Any]]) -> plt.Figure:
    """Mean normalised inter-layer deletion and insertion curves per concept order (first seed)."""
    inter = evaluation[0]["inter_layer"]
    return deletion_insertion_plot(
        {pair: result["curves"] for pair, result in inter.items()},
        f"inter-layer deletion (lower is better) and insertion (higher is better), seed {evaluation[0]['seed']}",
        {pair: result["fractions"] for pair, result in inter.items()},
    )
