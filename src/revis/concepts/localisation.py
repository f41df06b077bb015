"""How well per-patch concept maps localise concepts: pointing game, IoU, slot-to-concept matching.

Maps are (N, L, K) over a row-major ``grid x grid`` patch grid; ground truth is per-pixel
masks (N, K, H, W). Only (image, concept) pairs where the concept is present count.

- pointing game: the map's highest patch hits if that patch holds any pixel of the concept;
- IoU: the map is upsampled bilinearly to the image, min-max normalised per map, thresholded
  at ``threshold``, and compared with the mask.

Without concept supervision nothing ties slot k to concept k. ``match_slots`` assigns slots to
concepts by Hungarian matching (scipy's ``linear_sum_assignment``) of the mean IoU measured on
a split held out from the one the metrics are then reported on.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from revis.concepts.losses import patch_coverage


def maps_to_grid(maps: torch.Tensor, grid: int) -> torch.Tensor:
    """(N, L, K) -> (N, K, grid, grid)."""
    return maps.transpose(1, 2).reshape(maps.shape[0], maps.shape[2], grid, grid)


def pixel_maps(maps: torch.Tensor, grid: int, size: int) -> torch.Tensor:
    """(N, L, K) patch maps -> (N, K, size, size), bilinear, min-max normalised per map."""
    up = F.interpolate(maps_to_grid(maps.float(), grid), size=(size, size), mode="bilinear", align_corners=False)
    low = up.amin(dim=(2, 3), keepdim=True)
    high = up.amax(dim=(2, 3), keepdim=True)
    return (up - low) / (high - low).clamp_min(1e-12)


def iou_matrix(
    maps: torch.Tensor, masks: torch.Tensor, grid: int, threshold: float = 0.5, batch: int = 256
) -> torch.Tensor:
    """(N, S, K): IoU of slot s's thresholded map with concept k's mask; NaN where k is absent."""
    n = maps.shape[0]
    out = torch.empty(n, maps.shape[2], masks.shape[1])
    for start in range(0, n, batch):
        binary = pixel_maps(maps[start : start + batch], grid, masks.shape[-1]) >= threshold  # (B, S, H, W)
        truth = masks[start : start + batch].bool()  # (B, K, H, W)
        inter = torch.einsum("bshw,bkhw->bsk", binary.float(), truth.float())
        union = binary.flatten(2).sum(-1)[:, :, None] + truth.flatten(2).sum(-1)[:, None, :] - inter
        out[start : start + batch] = inter / union.clamp_min(1)
    present = masks.flatten(2).any(-1)  # (N, K)
    return out.masked_fill(~present[:, None, :], float("nan"))


def pointing_matrix(maps: torch.Tensor, masks: torch.Tensor, grid: int) -> torch.Tensor:
    """(N, S, K): 1 if slot s's top patch holds any pixel of concept k; NaN where k is absent."""
    covered = patch_coverage(masks, grid) > 0  # (N, L, K)
    top = maps.argmax(dim=1)  # (N, S): the highest patch of each slot's map
    hits = torch.gather(covered.float(), 1, top[:, :, None].expand(-1, -1, covered.shape[2]))  # (N, S, K)
    present = masks.flatten(2).any(-1)
    return hits.masked_fill(~present[:, None, :], float("nan"))


def diagonal_scores(matrix: torch.Tensor, assignment: np.ndarray) -> torch.Tensor:
    """Per-concept scores (N, K) of the slot assigned to each concept: ``assignment[k]`` is its slot."""
    return torch.stack([matrix[:, int(assignment[k]), k] for k in range(matrix.shape[2])], dim=1)


def nanmean_per_concept(scores: torch.Tensor) -> np.ndarray:
    return np.nanmean(scores.numpy(), axis=0)


def match_slots(score: np.ndarray) -> np.ndarray:
    """Hungarian assignment maximising the total score (S slots x K concepts): ``slot_of[k]``."""
    slots, concepts = linear_sum_assignment(-np.nan_to_num(score, nan=0.0))
    slot_of = np.full(score.shape[1], -1, dtype=np.int64)
    slot_of[concepts] = slots
    return slot_of


def random_maps(n: int, grid: int, num_concepts: int, seed: int) -> torch.Tensor:
    """Uniform random patch maps normalised over concepts, the chance baseline."""
    values = torch.rand(n, grid * grid, num_concepts, generator=torch.Generator().manual_seed(seed))
    return values / values.sum(-1, keepdim=True)
