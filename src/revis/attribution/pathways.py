"""The dataset-wide concept pathway: GIG between consecutive layers and from each layer to the classes.

Built from the pieces of this package: a ``LayeredNetwork``, one ``ConceptBasis`` per layer,
``GeneralizedIntegratedGradients`` and the deletion/insertion protocol. Everything is per
image; dataset-wide edges are means over images (``edge_weights``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from revis.attribution.concepts import ConceptBasis, reconstruction_error
from revis.attribution.faithfulness import (
    curve_steps,
    deletion_insertion,
    normalised_auc,
    order_by,
    random_active_order,
)
from revis.attribution.gig import ConceptProjection, GeneralizedIntegratedGradients, Method
from revis.attribution.layered import LayeredNetwork
from revis.attribution.pfv import layer_activations

ORDERS = ("gig", "random", "magnitude", "gradient", "gradient_x_input")


def encode_layers(
    net: LayeredNetwork, x: torch.Tensor, bases: dict[str, ConceptBasis]
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Activations (N, C, h, w) and Lasso coefficient maps (N, k, h, w) of every layer in ``bases``."""
    acts = layer_activations(net, x, list(bases))
    return acts, {layer: bases[layer].encode_maps(acts[layer]) for layer in bases}


def presence(coefficients: torch.Tensor) -> torch.Tensor:
    """Coefficient mass of each concept in each image (N, k)."""
    return coefficients.flatten(2).sum(2)


def top_targets(coefficients_b: torch.Tensor, count: int) -> torch.Tensor:
    """The ``count`` layer-b concepts with the most coefficient mass over the images (most present first)."""
    return torch.argsort(presence(coefficients_b).mean(0), descending=True)[:count]


@torch.no_grad()
def built_up_targets(
    net: LayeredNetwork,
    a: str,
    b: str,
    basis_a: ConceptBasis,
    basis_b: ConceptBasis,
    coefficients_a: torch.Tensor,
    count: int | None = None,
) -> torch.Tensor:
    """The layer-b concepts that layer a builds up the most: largest mean g(F(X~)) - g(F(0)) over the
    images first, at most ``count``.

    A target whose value mostly comes from F(0) (biases, batch-norm shifts) has nothing for the
    layer-a concepts to explain, and its deletion curve is flat (``inter_layer_faithfulness``
    skips targets without a positive span).
    """
    gig = GeneralizedIntegratedGradients(net.tail(a, b), basis_a.tensor(coefficients_a))
    full, zero = gig.endpoints(coefficients_a, ConceptProjection(basis_b.tensor(coefficients_a)))
    span = (full - zero).double().mean(0)
    order = torch.argsort(span, descending=True, stable=True)
    return (order if count is None else order[:count]).cpu()


def pair_gig(
    net: LayeredNetwork,
    a: str,
    b: str,
    basis_a: ConceptBasis,
    basis_b: ConceptBasis,
    coefficients_a: torch.Tensor,
    targets: torch.Tensor,
    n_steps: int,
    method: Method,
    internal_batch_size: int | None = None,
) -> dict[str, torch.Tensor]:
    """GIG of every layer-a concept to each target concept of layer b, plus the one-point baselines.

    Scores are (N, T, k_a); ``delta``/``full``/``zero`` (N, T).
    """
    gig = GeneralizedIntegratedGradients(net.tail(a, b), basis_a.tensor(coefficients_a))
    target = ConceptProjection(basis_b.tensor(coefficients_a)[targets.to(coefficients_a.device)])
    result = gig.attribute_targets(coefficients_a, target, n_steps, method, internal_batch_size)
    baselines = gig.gradient_scores(coefficients_a, target, internal_batch_size)
    return {
        "gig": result.scores,
        "delta": result.delta,
        "full": result.full,
        "zero": result.zero,
        "targets": targets,
        **baselines,
    }


def class_gig(
    net: LayeredNetwork,
    a: str,
    basis_a: ConceptBasis,
    coefficients_a: torch.Tensor,
    classes: torch.Tensor,
    n_steps: int,
    method: Method,
    internal_batch_size: int | None = None,
) -> dict[str, torch.Tensor]:
    """GIG of every layer-a concept to each image's class logit (``classes`` (N,)): scores (N, 1, k_a)."""
    gig = GeneralizedIntegratedGradients(net.tail(a), basis_a.tensor(coefficients_a))
    result = gig.attribute_targets(coefficients_a, classes, n_steps, method, internal_batch_size)
    return {"gig": result.scores, "delta": result.delta, "full": result.full, "zero": result.zero}


def completeness_sweep(
    net: LayeredNetwork,
    a: str,
    b: str | None,
    basis_a: ConceptBasis,
    coefficients_a: torch.Tensor,
    target,
    steps: Sequence[int],
    method: Method,
    internal_batch_size: int | None = None,
) -> dict[int, float]:
    """Relative completeness gap of GIG from layer a (to layer b or the logits) for each m."""
    gig = GeneralizedIntegratedGradients(net.tail(a, b), basis_a.tensor(coefficients_a))
    return {
        m: gig.attribute_targets(coefficients_a, target, m, method, internal_batch_size).relative_gap() for m in steps
    }


def edge_weights(scores: torch.Tensor) -> np.ndarray:
    """Dataset-wide edge weights (T, k): the mean per-image GIG."""
    return scores.double().mean(0).cpu().numpy()


def _auc_summary(aucs: list[dict[str, float]]) -> dict[str, float]:
    deletion = float(np.mean([a["deletion"] for a in aucs]))
    insertion = float(np.mean([a["insertion"] for a in aucs]))
    return {"deletion": deletion, "insertion": insertion, "ins_minus_del": insertion - deletion, "n_targets": len(aucs)}


@torch.no_grad()
def inter_layer_faithfulness(
    net: LayeredNetwork,
    a: str,
    b: str,
    basis_a: ConceptBasis,
    basis_b: ConceptBasis,
    coefficients_a: torch.Tensor,
    pair: dict[str, torch.Tensor],
    n_targets: int,
    seed: int,
    batch_size: int = 2048,
    curve_points: int | None = None,
) -> dict[str, Any]:
    """Deletion/insertion AUC of layer-b targets when layer-a concepts go in each order.

    Targets: the ``n_targets`` layer-b concepts with the largest positive mean change
    g(F(X~)) - g(F(0)). Orders per image and target: ``gig``; ``random`` (the image's present
    concepts in random order, then the absent ones); ``magnitude`` (coefficient mass);
    ``gradient`` (plain gradient, summed over positions); ``gradient_x_input``.
    Curves are read at ``curve_points`` evenly spaced counts of concepts (None: every count).
    Also ``curves``: mean normalised curves per order (for the picture) and per-target AUCs.
    """
    tail = net.tail(a, b)
    vectors = basis_a.tensor(coefficients_a)
    generator = torch.Generator().manual_seed(seed)
    k = coefficients_a.shape[1]
    steps = curve_steps(k, curve_points)
    fractions = steps / k
    mass = presence(coefficients_a)
    per_order: dict[str, list[dict[str, float]]] = {name: [] for name in ORDERS}
    curves: dict[str, list[np.ndarray]] = {name: [] for name in ORDERS}
    per_target = []
    # targets: the layer-b concepts that layer a builds up the most, i.e. with the largest mean
    # g(F(X~)) - g(F(0)); a target whose value mostly comes from F(0) (biases) has nothing to delete
    span = (pair["full"] - pair["zero"]).double().mean(0).cpu()
    chosen = [int(t) for t in torch.argsort(span, descending=True)[:n_targets] if span[t] > 0]
    for t in tqdm(chosen, desc=f"deletion/insertion {a}->{b}", leave=False):
        r = int(pair["targets"][t])
        target = ConceptProjection(basis_b.tensor(coefficients_a)[r])
        orders = {
            "gig": order_by(pair["gig"][:, t]),
            "random": random_active_order(mass, generator),
            "magnitude": order_by(mass),
            "gradient": order_by(pair["gradient"][:, t]),
            "gradient_x_input": order_by(pair["gradient_x_input"][:, t]),
        }
        row = {}
        for name, order in orders.items():
            deletion, insertion = deletion_insertion(tail, coefficients_a, vectors, order, target, batch_size, steps)
            auc = normalised_auc(deletion, insertion, fractions)
            if auc is None:
                break
            row[name] = auc
            full, empty = deletion.double().mean(0)[0], deletion.double().mean(0)[-1]
            height = float(full - empty)
            curves[name].append(
                np.stack(
                    [
                        ((deletion.double().mean(0) - empty) / height).cpu().numpy(),
                        ((insertion.double().mean(0) - empty) / height).cpu().numpy(),
                    ]
                )
            )
        if len(row) == len(orders):
            for name, auc in row.items():
                per_order[name].append(auc)
            per_target.append(
                {"target": int(r), **{name: auc["insertion"] - auc["deletion"] for name, auc in row.items()}}
            )
    summary = {name: _auc_summary(aucs) for name, aucs in per_order.items() if aucs}
    gig_wins = {
        other: float(np.mean([row["gig"] > row[other] for row in per_target]))
        for other in ORDERS
        if other != "gig" and per_target
    }
    return {
        "summary": summary,
        "gig_win_rate": gig_wins,
        "per_target": per_target,
        "fractions": fractions,
        "curves": {name: np.mean(c, axis=0) for name, c in curves.items() if c},
    }


@torch.no_grad()
def concept_class_faithfulness(
    net: LayeredNetwork,
    a: str,
    basis_a: ConceptBasis,
    coefficients_a: torch.Tensor,
    scores: torch.Tensor,
    classes: torch.Tensor,
    batch_size: int = 2048,
    curve_points: int | None = None,
) -> dict[str, float]:
    """C-Deletion / C-Insertion of the class logit with layer-a concepts in GIG order (Fel et al.)."""
    steps = curve_steps(coefficients_a.shape[1], curve_points)
    deletion, insertion = deletion_insertion(
        net.tail(a), coefficients_a, basis_a.tensor(coefficients_a), order_by(scores[:, 0]), classes, batch_size, steps
    )
    auc = normalised_auc(deletion, insertion, steps / coefficients_a.shape[1])
    if auc is None:
        return {"c_deletion": float("nan"), "c_insertion": float("nan"), "ins_minus_del": float("nan")}
    return {
        "c_deletion": auc["deletion"],
        "c_insertion": auc["insertion"],
        "ins_minus_del": auc["insertion"] - auc["deletion"],
    }


@torch.no_grad()
def reconstruction_report(
    net: LayeredNetwork, layer: str, activations: torch.Tensor, basis: ConceptBasis, coefficients: torch.Tensor
) -> dict[str, float]:
    """Relative reconstruction error at every position, the share of non-zero coefficients, and how
    often the network's prediction survives replacing the layer by its reconstruction."""
    x_hat = basis.reconstruct_maps(coefficients)
    tail = net.tail(layer)
    agree = (tail(x_hat).argmax(1) == tail(activations).argmax(1)).float().mean()
    return {
        "error": reconstruction_error(activations.cpu().numpy(), x_hat.cpu().numpy()),
        "active_share": float((coefficients > 0).float().mean()),
        "prediction_agreement": float(agree),
    }
