"""Concept supervision for Bi-ICE: the explanation loss and the entropy sparsity term.

The explanation loss follows the Concept Transformer / CCT recipe: the map A (rows sum to one
over concepts) is pulled towards the ground-truth concept map normalised the same way, scaled
by the number of concepts. Where only image-level concept labels exist (CIFAR-100's fine
classes, CUB's attributes) the patch-averaged A is compared with the normalised presence vector.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def patch_coverage(masks: torch.Tensor, grid: int) -> torch.Tensor:
    """Per-pixel concept masks (B, K, H, W) -> fraction of each patch they cover, (B, L, K) row-major."""
    coverage = F.adaptive_avg_pool2d(masks.float(), grid)  # (B, K, g, g); exact area fractions when g divides H
    return coverage.flatten(2).transpose(1, 2)


def normalise_over_concepts(target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of (..., K) scaled to sum to one, and a mask of the rows that hold any concept at all."""
    total = target.sum(-1, keepdim=True)
    annotated = total.squeeze(-1) > 0
    return target / total.clamp_min(1e-12), annotated


def explanation_loss(
    attention: torch.Tensor,
    coverage: torch.Tensor | None = None,
    presence: torch.Tensor | None = None,
    background: bool = False,
) -> torch.Tensor:
    """K x MSE between A and the normalised ground truth.

    ``coverage`` (B, L, K): spatial concept maps on the patch grid (patches without any concept
    carry no annotation and are left out, as CT/CCT leave out un-annotated patches);
    ``presence`` (B, K): image-level concept labels, compared with A averaged over patches.
    """
    num_concepts = attention.shape[-1]
    if coverage is not None:
        target, annotated = normalise_over_concepts(coverage.float())
        if background:
            annotated = torch.ones_like(annotated)
        if not annotated.any():
            return attention.new_zeros(())
        return num_concepts * F.mse_loss(attention[annotated], target[annotated])
    if presence is not None:
        target, annotated = normalise_over_concepts(presence.float())
        if not annotated.any():
            return attention.new_zeros(())
        return num_concepts * F.mse_loss(attention.mean(1)[annotated], target[annotated])
    raise ValueError("explanation_loss needs spatial coverage or image-level presence")


def attention_entropy(attention: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Mean entropy of each patch's distribution over concepts (lower = sparser maps)."""
    return -(attention * (attention + eps).log()).sum(-1).mean()
