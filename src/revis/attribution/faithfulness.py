"""Concept deletion and insertion (Fel et al.'s C-Deletion / C-Insertion, applied between layers).

Given coefficient maps U (N, k, h, w) at layer ``a``, concept vectors V and, per image, an order
of the k concepts (most important first), the **deletion** curve zeroes the coefficients of the
first j concepts (j = 0..k) and reads the target g(F(U' V^T)); the **insertion** curve starts
from nothing and adds them in the same order. A faithful order makes deletion fall early (low
AUC) and insertion rise early (high AUC).

Curves are averaged over images, then put on one scale per target with the two common
endpoints — 1 at the full reconstruction, 0 at the empty one — so that every order (GIG,
random, coefficient magnitude, plain gradient) is measured on the same axis. AUC is the
trapezoid over the fraction of concepts removed/added.

With many concepts (k = 8 x channels) a curve point per concept costs k + 1 forward passes per
image and curve; ``curve_steps(k, points)`` evaluates the curve at ``points`` evenly spaced
counts of removed concepts instead (always including 0 and k), the same for every order.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from revis.attribution.gig import Target, select_target


def curve_steps(k: int, points: int | None = None) -> np.ndarray:
    """Counts of removed concepts at which a curve is read: all of 0..k, or ``points`` evenly spaced ones."""
    if points is None or points >= k + 1:
        return np.arange(k + 1)
    return np.unique(np.rint(np.linspace(0, k, max(points, 2))).astype(np.int64))


def _masks(order: torch.Tensor, steps: np.ndarray | None = None) -> torch.Tensor:
    """Per image (N, k) order -> (N, S, k) keep-masks of deletion: step j removes order[:steps[j]]."""
    n, k = order.shape
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(k, device=order.device).expand(n, k))
    counts = torch.as_tensor(curve_steps(k) if steps is None else steps, device=order.device)
    return (rank[:, None, :] >= counts[None, :, None]).float()  # concept kept while its rank >= count


@torch.no_grad()
def deletion_insertion(
    forward_func: Callable[[torch.Tensor], torch.Tensor],
    coefficients: torch.Tensor,
    concepts: torch.Tensor,
    order: torch.Tensor,
    target: Target,
    batch_size: int = 1024,
    steps: np.ndarray | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw deletion and insertion curves (N, S) of one target, read after removing (adding) ``steps``
    concepts (default: every count 0..k, S = k + 1).

    ``order`` (N, k): concept indices per image, most important first. ``target``: an int
    class, a per-image class tensor (N,), or a single ``ConceptProjection``.
    """
    n, k = coefficients.shape[:2]
    keep = _masks(order.to(coefficients.device), steps)  # (N, S, k)
    points = keep.shape[1]
    concepts = concepts.to(coefficients)
    curves = []
    for masks in (keep, 1.0 - keep):  # insertion adds exactly what deletion removes
        inputs = (coefficients[:, None] * masks[..., None, None]).reshape(n * points, k, *coefficients.shape[2:])
        values = []
        for start in range(0, len(inputs), batch_size):
            chunk = inputs[start : start + batch_size]
            x = torch.einsum("nkhw,kc->nchw", chunk, concepts)
            out = forward_func(x)
            if isinstance(target, torch.Tensor):  # per-image classes, images are the outer index
                index = target.to(out.device).repeat_interleave(points)[start : start + batch_size]
                values.append(out.gather(1, index[:, None]).squeeze(1))
            else:
                values.append(select_target(out, target).reshape(len(chunk)))
        curves.append(torch.cat(values).reshape(n, points))
    return curves[0], curves[1]


def normalised_auc(
    deletion: torch.Tensor, insertion: torch.Tensor, fractions: np.ndarray | None = None
) -> dict[str, float] | None:
    """Average curves over images, scale so full = 1 and empty = 0, trapezoid AUC over [0, 1].

    ``fractions``: where the curve points lie on [0, 1] (default: evenly spaced). Returns None
    when the target barely changes between full and empty (nothing to measure).
    """
    d, i = deletion.double().mean(0).cpu(), insertion.double().mean(0).cpu()
    full, empty = d[0], d[-1]
    span = full - empty
    if abs(float(span)) < 1e-6 * max(abs(float(full)), 1.0):
        return None
    x = np.linspace(0.0, 1.0, len(d)) if fractions is None else np.asarray(fractions, dtype=np.float64)
    d_n, i_n = ((d - empty) / span).numpy(), ((i - empty) / span).numpy()
    return {"deletion": float(np.trapezoid(d_n, x)), "insertion": float(np.trapezoid(i_n, x))}


def order_by(scores: torch.Tensor) -> torch.Tensor:
    """Scores (..., k) -> concept indices, highest first (stable for ties)."""
    return torch.argsort(scores, dim=-1, descending=True, stable=True)


def random_active_order(mass: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """(N, k) random orders that put each image's present concepts (mass > 0) first, in random order.

    The random baseline with the image's own set of concepts: deleting an absent concept changes
    nothing, so a uniformly random order over all k concepts would lose to any order that simply
    lists present concepts first; this one only lacks the ranking among them.
    """
    keys = torch.rand(mass.shape, generator=generator).to(mass.device) + (mass > 0).to(mass.dtype)
    return torch.argsort(keys, dim=-1, descending=True)
