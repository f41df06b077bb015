"""Pictures of the concept pathway: the concept atlas, the concept graph, completeness, curves.

The low-level drawers take plain arrays; ``pathway_pictures`` builds the atlas and the graph from
one seed's network, concepts and GIG results (what the ``gig`` evaluate stage draws).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from revis.attribution.alignment import concept_alignment
from revis.attribution.concepts import ConceptBasis
from revis.attribution.layered import network_from_checkpoint
from revis.attribution.study import pair_key, pairs
from revis.datasets.imageset import ImageSet


def erf_crop(image: np.ndarray, erf: np.ndarray, size: int = 32, threshold: float = 0.2) -> np.ndarray:
    """The image region where the (gradient) ERF exceeds ``threshold`` x its max, ERF-weighted, resized.

    ``image`` (H, W, 3) uint8, ``erf`` (H, W) -> (size, size, 3) float in [0, 1].
    """
    peak = erf.max()
    weight = erf / peak if peak > 0 else np.ones_like(erf)
    rows, cols = np.nonzero(weight >= threshold)
    if len(rows) == 0:
        rows, cols = np.arange(erf.shape[0]), np.arange(erf.shape[1])
    top, bottom = max(rows.min() - 1, 0), min(rows.max() + 2, erf.shape[0])
    left, right = max(cols.min() - 1, 0), min(cols.max() + 2, erf.shape[1])
    # dim the pixels the ERF does not reach, keep the ones it does
    shaded = image.astype(np.float32) / 255.0 * (0.25 + 0.75 * np.clip(weight, 0, 1)[..., None] ** 0.5)
    crop = torch.from_numpy(shaded[top:bottom, left:right]).permute(2, 0, 1)[None]
    return F.interpolate(crop, size=(size, size), mode="nearest")[0].permute(1, 2, 0).numpy()


def concept_atlas(groups: Mapping[str, Sequence[dict]], title: str) -> plt.Figure:
    """One panel per layer, side by side; ``groups[layer]`` rows: {"label": str, "crops": [arrays]}."""
    n_rows = max((len(rows) for rows in groups.values()), default=1)
    n_cols = max((len(r["crops"]) for rows in groups.values() for r in rows), default=1)
    fig = plt.figure(figsize=(len(groups) * (0.75 * n_cols + 1.1), 0.8 * n_rows + 0.9))
    panels = np.atleast_1d(np.asarray(fig.subfigures(1, len(groups), wspace=0.02), dtype=object))
    for panel, (layer, rows) in zip(panels, groups.items()):
        axes = panel.subplots(n_rows, n_cols, squeeze=False)
        for i in range(n_rows):
            for j in range(n_cols):
                ax = axes[i, j]
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_visible(False)
                if i < len(rows) and j < len(rows[i]["crops"]):
                    ax.imshow(rows[i]["crops"][j], interpolation="nearest")
            if i < len(rows):
                axes[i, 0].set_ylabel(rows[i]["label"], rotation=0, ha="right", va="center", fontsize=6.5)
        panel.suptitle(layer, fontsize=9)
        panel.subplots_adjust(left=0.2, right=0.98, wspace=0.05, hspace=0.12, top=0.93, bottom=0.01)
    fig.suptitle(title, fontsize=8, y=1.02)
    return fig


def concept_graph(
    layers: Sequence[str],
    node_labels: dict[str, list[str]],
    edges: Sequence[tuple[str, int, str, int, float]],
    class_names: Sequence[str],
    title: str,
) -> plt.Figure:
    """Columns of concept nodes per layer plus a class column; ``edges`` (layer_a, q, layer_b, r, weight).

    ``layer_b`` may be "classes". Line width follows |weight| (scaled per layer pair), colour its sign.
    """
    columns = [*layers, "classes"]
    labels = {**node_labels, "classes": list(class_names)}
    height = max(len(v) for v in labels.values())
    fig, ax = plt.subplots(figsize=(2.6 * len(columns) + 1, 0.32 * height + 1.4))
    pos = {}
    for x, column in enumerate(columns):
        names = labels[column]
        for i, name in enumerate(names):
            y = (height - 1) / 2 - (i - (len(names) - 1) / 2)
            pos[(column, i)] = (x, y)
            ax.scatter([x], [y], s=22, color="black" if column != "classes" else "tab:green", zorder=3)
            ax.text(
                x + (0.08 if column == "classes" else -0.08),
                y,
                name,
                fontsize=6,
                ha="left" if column == "classes" else "right",
                va="center",
                zorder=4,
            )
    scale: dict[tuple[str, str], float] = {}
    for a, _, b, _, w in edges:
        scale[(a, b)] = max(scale.get((a, b), 0.0), abs(w))
    for a, q, b, r, w in edges:
        (x0, y0), (x1, y1) = pos[(a, q)], pos[(b, r)]
        strength = abs(w) / scale[(a, b)] if scale[(a, b)] > 0 else 0.0
        ax.plot(
            [x0, x1],
            [y0, y1],
            color="tab:red" if w > 0 else "tab:blue",
            lw=0.3 + 2.7 * strength,
            alpha=0.25 + 0.65 * strength,
            zorder=1,
        )
    ax.set_xticks(range(len(columns)), columns)
    ax.set_yticks([])
    ax.set_xlim(-0.9, len(columns) - 0.3)
    for spine in ("left", "right", "top"):
        ax.spines[spine].set_visible(False)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def completeness_plot(sweeps: dict[str, dict[int, float]], title: str) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    steps = sorted({m for sweep in sweeps.values() for m in sweep})
    for name, sweep in sweeps.items():
        values = [sweep[m] for m in sorted(sweep)]
        exact = max(values) < 1e-5  # an affine tail (pooling + linear head): every Riemann sum is exact
        label = f"{name} (affine: exact, not drawn)" if exact else name
        ax.plot(sorted(sweep), [np.nan if exact else v for v in values], marker="o", lw=1, ms=3, label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(steps, [str(m) for m in steps])
    ax.minorticks_off()
    ax.set(xlabel="Riemann steps m", ylabel="relative completeness gap")
    ax.legend(fontsize=6)
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return fig


def deletion_insertion_plot(
    curves: dict[str, dict[str, np.ndarray]], title: str, fractions: dict[str, np.ndarray] | None = None
) -> plt.Figure:
    """``curves[pair][order]`` = (2, S) normalised deletion and insertion curves, read at
    ``fractions[pair]`` of the concepts (default: evenly spaced)."""
    fig, axes = plt.subplots(2, max(1, len(curves)), figsize=(3.4 * max(1, len(curves)), 5.4), squeeze=False)
    for j, (pair, by_order) in enumerate(curves.items()):
        for name, c in by_order.items():
            x = np.linspace(0, 1, c.shape[1]) if fractions is None else fractions[pair]
            style = {"lw": 2.0 if name == "gig" else 1.0, "label": name}
            axes[0, j].plot(x, c[0], **style)
            axes[1, j].plot(x, c[1], **style)
        axes[0, j].set(
            title=f"deletion {pair}", xlabel="fraction of layer-a concepts removed", ylabel="target (normalised)"
        )
        axes[1, j].set(
            title=f"insertion {pair}", xlabel="fraction of layer-a concepts added", ylabel="target (normalised)"
        )
        for ax in axes[:, j]:
            ax.title.set_fontsize(8)
    axes[0, 0].legend(fontsize=6)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


# --- from one seed's results to the drawers' inputs -------------------------------------------------
def concept_importance(class_scores: torch.Tensor) -> torch.Tensor:
    """Dataset-wide importance (k,) of each concept: mean |GIG| to the predicted class, scores (N, 1, k)."""
    return class_scores[:, 0].abs().mean(0)


def concept_labels(concepts: Sequence[int], match: dict | None, names: Sequence[str] | None) -> list[str]:
    """``c<q>``, plus the best-matching ground-truth concept and its IoU where ``match`` (``best_match``) has one."""
    labels = []
    for row, q in enumerate(concepts):
        if match is None or names is None or match["match"][row] < 0:
            labels.append(f"c{q}")
        else:
            labels.append(f"c{q} {names[match['match'][row]]} {match['iou'][row]:.2f}")
    return labels


def atlas_rows(
    head: torch.nn.Module,
    images: np.ndarray,
    x: torch.Tensor,
    coefficients: torch.Tensor,
    vectors: torch.Tensor,
    concepts: Sequence[int],
    labels: Sequence[str],
    crops: int,
) -> list[dict]:
    """Atlas rows of one layer: per concept, gradient-ERF crops of its strongest PFV in each of its
    ``crops`` most responsive images. ``images`` (N, H, W, 3) uint8; ``coefficients`` (N, k, h, w)."""
    from revis.attribution.erf import pfv_erf

    rows = []
    coefficients = coefficients.cpu()
    for q, label in zip(concepts, labels):
        per_image = coefficients[:, q].flatten(1)
        value, flat = per_image.max(1)  # one crop per image: its strongest position
        chosen = torch.argsort(value, descending=True)[:crops]
        chosen = chosen[value[chosen] > 0]
        row_crops = []
        if len(chosen):
            w = coefficients.shape[-1]
            positions = torch.stack([flat[chosen] // w, flat[chosen] % w], dim=1)
            erf = pfv_erf(head, x[chosen.to(x.device)], positions.to(x.device), vectors[q]).cpu()
            row_crops = [erf_crop(images[i], e.numpy()) for i, e in zip(chosen.tolist(), erf)]
        rows.append({"label": label, "crops": row_crops})
    return rows


def graph_edges(
    layers: Sequence[str],
    shown: dict[str, list[int]],
    pair_scores: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]],
    class_scores: torch.Tensor,
    classes: torch.Tensor,
    class_ids: Sequence[int],
    per_node: int,
) -> list[tuple[str, int, str, int, float]]:
    """The strongest ``per_node`` incoming edges of every drawn node, weights = dataset-wide mean GIG.

    ``pair_scores[(a, b)]`` = (GIG (N, T, k_a), targets (T,)); ``class_scores`` (N, k) of the last
    layer to each image's class ``classes`` (N,); ``shown[layer]`` the drawn concepts, in order.
    """
    edges = []
    for (a, b), (scores, targets) in pair_scores.items():
        weights = scores.double().mean(0).cpu().numpy()  # (T, k_a)
        for t, r in enumerate(targets.tolist()):
            if r not in shown[b]:
                continue
            sources = [q for q in np.argsort(-np.abs(weights[t])) if q in shown[a]][:per_node]
            edges += [(a, shown[a].index(int(q)), b, shown[b].index(r), float(weights[t, q])) for q in sources]
    last = layers[-1]
    for j, c in enumerate(class_ids):
        weights = class_scores[classes == c].double().mean(0).cpu().numpy()
        sources = [q for q in np.argsort(-np.abs(weights)) if q in shown[last]][:per_node]
        edges += [(last, shown[last].index(int(q)), "classes", j, float(weights[q])) for q in sources]
    return edges


# --- one seed's atlas and graph (what the ``gig`` evaluate stage draws) ------------------------------
@dataclass(frozen=True)
class PathwayPictures:
    """How much the atlas and the graph show, and how the atlas labels its concepts (``concept_alignment``)."""

    atlas_concepts: int  # concepts per layer in the atlas, most important first
    atlas_crops: int
    graph_nodes: int  # concepts (and classes) per column of the graph
    graph_edges: int  # strongest incoming edges per node
    alignment_max_images: int
    min_images: int


def ranked_concepts(pathway: dict[str, Any], layer: str, count: int) -> list[int]:
    """The ``count`` most important k-means concepts of ``layer`` (mean |GIG| to the class), most important first."""
    importance = concept_importance(pathway["to_class"]["kmeans"][layer]["gig"])
    return torch.argsort(importance, descending=True)[:count].tolist()


def ground_truth_labels(
    checkpoint: dict[str, Any],
    test: ImageSet,
    concepts: dict[str, Any],
    pathway: dict[str, Any],
    shown: dict[str, list[int]],
    settings: PathwayPictures,
) -> dict[str, list[str]]:
    """Labels of the drawn concepts: their best-matching ground-truth concept where the images have masks."""
    if test.concept_masks is None:
        return {a: concept_labels(q, None, None) for a, q in shown.items()}
    net = network_from_checkpoint(checkpoint)
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
            settings.alignment_max_images,
            min(settings.min_images, 2),
        )
        labels[a] = concept_labels(chosen, match, test.concept_names)
    return labels


def pathway_graph(
    test: ImageSet,
    pathway: dict[str, Any],
    shown: dict[str, list[int]],
    labels: dict[str, list[str]],
    count: int,
    per_node: int,
) -> plt.Figure:
    """The concept graph of one seed: layer-to-layer edges (mean GIG over its test images) to its ``count``
    most frequent predicted classes, the ``per_node`` strongest incoming edges per node."""
    layers = pathway["layers"]
    classes = pathway["classes"]
    counts = torch.bincount(classes, minlength=test.num_classes)
    class_ids = [int(c) for c in torch.argsort(counts, descending=True)[:count] if counts[c] > 0]
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
        per_node,
    )
    return concept_graph(
        layers,
        labels,
        edges,
        [test.class_names[c] for c in class_ids],
        f"concept pathway (seed {pathway['seed']}): top-{per_node} incoming GIG edges per node "
        "(red +, blue -), means over the test images",
    )


def pathway_pictures(
    checkpoint: dict[str, Any],
    images: ImageSet,
    concepts: dict[str, Any],
    pathway: dict[str, Any],
    settings: PathwayPictures,
) -> tuple[plt.Figure, plt.Figure]:
    """One seed's concept atlas (gradient-ERF crops of each layer's most important concepts) and concept
    graph (layer-to-layer edges = mean GIG over its test images); ``images``: the whole test split."""
    layers = pathway["layers"]
    test = images.subset(pathway["index"].numpy())
    count = max(settings.atlas_concepts, settings.graph_nodes)
    ranked = {a: ranked_concepts(pathway, a, count) for a in layers}
    labels = ground_truth_labels(checkpoint, test, concepts, pathway, ranked, settings)
    net = network_from_checkpoint(checkpoint)
    x = test.tensors()[0]
    n_atlas = settings.atlas_concepts
    groups = {
        a: atlas_rows(
            net.head(a),
            test.images,
            x,
            pathway["coefficients"]["kmeans"][a],
            ConceptBasis.from_dict(concepts["bases"][a]["kmeans"]).tensor(x),
            ranked[a][:n_atlas],
            labels[a][:n_atlas],
            settings.atlas_crops,
        )
        for a in layers
    }
    atlas = concept_atlas(
        groups,
        f"concept atlas (seed {pathway['seed']}): most important concepts per layer (mean |GIG| to the class), "
        "gradient-ERF crops of their strongest PFVs; label: best-matching ground-truth concept and its IoU",
    )
    n_graph = settings.graph_nodes
    shown = {a: ranked[a][:n_graph] for a in layers}
    labels_shown = {a: labels[a][:n_graph] for a in layers}
    graph = pathway_graph(test, pathway, shown, labels_shown, n_graph, settings.graph_edges)
    return atlas, graph
