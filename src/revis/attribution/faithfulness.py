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
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from revis.attribution.gig import Target, select_target


def _masks(order: torch.Tensor) -> torch.Tensor:
    """Per image (N, k) order -> (N, k+1, k) keep-masks of deletion: step j removes order[:j]."""
    n, k = order.shape
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(k, device=order.device).expand(n, k))
    steps = torch.arange(k + 1, device=order.device)[None, :, None]  # (1, k+1, 1)
    return (rank[:, None, :] >= steps).float()  # concept kept while its rank >= j


@torch.no_grad()
def deletion_insertion(
    forward_func: Callable[[torch.Tensor], torch.Tensor],
    coefficients: torch.Tensor,
    concepts: torch.Tensor,
    order: torch.Tensor,
    target: Target,
    batch_size: int = 1024,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw deletion and insertion curves (N, k+1) of one target.

    ``order`` (N, k): concept indices per image, most important first. ``target``: an int
    class, a per-image class tensor (N,), or a single ``ConceptProjection``.
    """
    n, k = coefficients.shape[:2]
    keep = _masks(order.to(coefficients.device))  # (N, k+1, k)
    concepts = concepts.to(coefficients)
    curves = []
    for masks in (keep, 1.0 - keep):  # insertion adds exactly what deletion removed
        inputs = (coefficients[:, None] * masks[..., None, None]).reshape(n * (k + 1), k, *coefficients.shape[2:])
        values = []
        for start in range(0, len(inputs), batch_size):
            chunk = inputs[start : start + batch_size]
            x = torch.einsum("nkhw,kc->nchw", chunk, concepts)
            out = forward_func(x)
            if isinstance(target, torch.Tensor):  # per-image classes, images are the outer index
                index = target.to(out.device).repeat_interleave(k + 1)[start : start + batch_size]
                values.append(out.gather(1, index[:, None]).squeeze(1))
            else:
                values.append(select_target(out, target).reshape(len(chunk)))
        curves.append(torch.cat(values).reshape(n, k + 1))
    return curves[0], curves[1]


def normalised_auc(deletion: torch.Tensor, insertion: torch.Tensor) -> dict[str, float] | None:
    """Average curves over images, scale so full = 1 and empty = 0, trapezoid AUC over [0, 1].

    Returns None when the target barely changes between full and empty (nothing to measure).
    """
    d, i = deletion.double().mean(0).cpu(), insertion.double().mean(0).cpu()
    full, empty = d[0], d[-1]
    span = full - empty
    if abs(float(span)) < 1e-6 * max(abs(float(full)), 1.0):
        return None
    x = np.linspace(0.0, 1.0, len(d))
    d_n, i_n = ((d - empty) / span).numpy(), ((i - empty) / span).numpy()
    return {"deletion": float(np.trapezoid(d_n, x)), "insertion": float(np.trapezoid(i_n, x))}


def order_by(scores: torch.Tensor) -> torch.Tensor:
    """Scores (..., k) -> concept indices, highest first (stable for ties)."""
    return torch.argsort(scores, dim=-1, descending=True, stable=True)
