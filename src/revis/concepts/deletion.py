"""Faithfulness by deletion: remove patches most-relevant first and watch the class logit fall.

A patch is deleted by filling its pixels with the image's mean colour. The curve is the logit
of the target class after deleting 0, L/steps, ..., L patches; the *logit-drop AUC* is the area
under (z_0 - z_t) over the deleted fraction in [0, 1] (trapezoid rule). An ordering that puts
the patches the model relies on first drops the logit sooner and scores a higher AUC than a
random ordering.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F


def delete_patches(x: torch.Tensor, order: torch.Tensor, count: int, grid: int) -> torch.Tensor:
    """Images (B, C, H, W) with the first ``count`` patches of ``order`` (B, L) set to the mean colour."""
    if count == 0:
        return x
    removed = torch.zeros(order.shape, dtype=x.dtype, device=x.device)
    removed.scatter_(1, order[:, :count], 1.0)
    removed = F.interpolate(removed.reshape(-1, 1, grid, grid), size=x.shape[-2:], mode="nearest")
    fill = x.mean(dim=(2, 3), keepdim=True)
    return x * (1 - removed) + fill * removed


@torch.no_grad()
def deletion_curves(
    logits_fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    target: torch.Tensor,
    order: torch.Tensor,
    grid: int,
    steps: int = 16,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """(B, steps + 1) on the CPU: target-class logit after deleting round(t L / steps) patches in ``order``."""
    counts = np.rint(np.linspace(0, order.shape[1], steps + 1)).astype(int)
    rows = []
    for start in range(0, len(x), batch_size):
        xb, ob = x[start : start + batch_size].to(device), order[start : start + batch_size].to(device)
        tb = target[start : start + batch_size].to(device)
        curves = [logits_fn(delete_patches(xb, ob, int(c), grid)).gather(1, tb[:, None])[:, 0] for c in counts]
        rows.append(torch.stack(curves, dim=1).cpu())
    return torch.cat(rows)


def drop_auc(curves: torch.Tensor) -> torch.Tensor:
    """(B,): area under z_0 - z_t over the deleted fraction in [0, 1]."""
    drops = (curves[:, :1] - curves).numpy()
    return torch.from_numpy(np.trapezoid(drops, np.linspace(0, 1, curves.shape[1]), axis=1))


def random_orders(n: int, length: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randperm(length, generator=generator) for _ in range(n)])


def coverage_orders(coverage: torch.Tensor, seed: int) -> torch.Tensor:
    """(B, L) patch orders, most-covered first: ``coverage`` (B, L) is the share of each patch that a known
    answer covers (e.g. the masks of the concepts that define the class); ties, among them the uncovered
    patches, go in a seeded random order. The order whose deletion must hurt the class logit most when
    the model relies on those pixels: the metric's check on a case where the answer is known."""
    shuffled = random_orders(coverage.shape[0], coverage.shape[1], seed)
    ranked = torch.sort(coverage.gather(1, shuffled), dim=1, descending=True, stable=True).indices
    return shuffled.gather(1, ranked)
