"""Effective receptive fields (ERFs) of PFVs and concepts — the **gradient stand-in**.

The paper (via SRD, arXiv 2402.03348) computes an *instance-specific* ERF by recursively
decomposing a PFV into input contributions. We do not reimplement SRD; we use the gradient
ERF instead, ``|d <x_p, v> / d input|`` summed over input channels, which marks the pixels a
PFV's projection onto ``v`` is sensitive to. It is bounded by the theoretical receptive field
of position ``p`` and shares its locality, but it is a sensitivity map, not SRD's
decomposition; every picture and metric built on it says "gradient ERF".
"""

from __future__ import annotations

import torch
from torch import nn
from tqdm.auto import tqdm


def _input_gradient(head: nn.Module, x: torch.Tensor, objective) -> torch.Tensor:
    with torch.enable_grad():  # autograd.grad: no parameter gradients are stored
        inputs = x.detach().clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(objective(head(inputs)).sum(), inputs)
    return grad.abs().sum(1)  # (N, H, W): channels of the input pooled


def pfv_erf(
    head: nn.Module, x: torch.Tensor, positions: torch.Tensor, directions: torch.Tensor | None = None
) -> torch.Tensor:
    """Gradient ERF (N, H, W) of one PFV per image.

    ``head``: pixels -> layer activation; ``positions`` (N, 2) as (row, column) at that layer;
    ``directions`` (N, C) or (C,): the vector the PFV is projected on (default: the PFV's own
    direction, i.e. the ERF of its norm).
    """
    rows, cols = positions[:, 0], positions[:, 1]
    index = torch.arange(len(x), device=x.device)

    def objective(act: torch.Tensor) -> torch.Tensor:
        pfv = act[index, :, rows, cols]  # (N, C)
        v = pfv.detach() if directions is None else directions.to(pfv).expand_as(pfv)
        v = v / v.norm(dim=1, keepdim=True).clamp(min=1e-12)
        return (pfv * v).sum(1)

    return _input_gradient(head, x, objective)


def concept_erf(head: nn.Module, x: torch.Tensor, coefficients: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """Gradient ERF (N, H, W) of one concept in each image.

    ``coefficients`` (N, h, w): the concept's sparse coefficients u_pq at the layer's positions
    (held fixed); ``direction`` (C,): the concept vector. The objective is the
    coefficient-weighted projection ``sum_p u_pq <x_p, v_q/|v_q|>``, so positions where the concept is
    absent do not contribute.
    """
    v = direction.to(x) / direction.norm().clamp(min=1e-12)

    def objective(act: torch.Tensor) -> torch.Tensor:
        projection = torch.einsum("nchw,c->nhw", act, v.to(act.dtype))
        return (projection * coefficients).flatten(1).sum(1)

    return _input_gradient(head, x, objective)


def concept_erfs(
    head: nn.Module,
    x: torch.Tensor,
    coefficients: torch.Tensor,
    directions: torch.Tensor,
    batch_size: int = 256,
    progress: bool = False,
) -> torch.Tensor:
    """Gradient ERFs (N, K, H, W) of every concept: ``coefficients`` (N, K, h, w), ``directions`` (K, C)."""
    n, k = coefficients.shape[:2]
    out = torch.zeros(n, k, *x.shape[-2:], device=x.device)
    for q in tqdm(range(k), desc="concept ERFs", leave=False, disable=not progress):
        active = coefficients[:, q].flatten(1).sum(1) > 0  # absent concepts have an all-zero ERF
        idx = torch.nonzero(active).flatten()
        for start in range(0, len(idx), batch_size):
            part = idx[start : start + batch_size]
            out[part, q] = concept_erf(head, x[part], coefficients[part, q], directions[q])
    return out


def paired_concept_erfs(
    head: nn.Module,
    x: torch.Tensor,
    images: torch.Tensor,
    coefficients: torch.Tensor,
    directions: torch.Tensor,
    batch_size: int = 256,
) -> torch.Tensor:
    """Gradient ERFs (M, H, W) of M (image, concept) pairs in one batched backward per chunk.

    ``images`` (M,): which image of ``x`` each pair reads; ``coefficients`` (M, h, w): the pair's
    concept coefficients; ``directions`` (M, C): the pair's concept vector. Item i is
    ``concept_erf(head, x[images[i]], coefficients[i], directions[i])``: the objectives of
    different items do not interact, so one backward over their sum gives every ERF.
    """
    unit = directions / directions.norm(dim=1, keepdim=True).clamp(min=1e-12)
    out = []
    for start in range(0, len(images), batch_size):
        part = slice(start, start + batch_size)
        v, u = unit[part].to(x), coefficients[part].to(x)

        def objective(act: torch.Tensor, v: torch.Tensor = v, u: torch.Tensor = u) -> torch.Tensor:
            return (torch.einsum("nchw,nc->nhw", act, v.to(act.dtype)) * u).flatten(1).sum(1)

        out.append(_input_gradient(head, x[images[part].to(x.device)], objective))
    return torch.cat(out) if out else x.new_zeros(0, *x.shape[-2:])
