"""Do concept ERFs land on the world's ground-truth concepts? (beyond the paper)

The shapes world knows, per pixel, which pixels are red, striped, a triangle, ... For a learned
concept q and a ground-truth concept g, over the images where q is active and g is present:

- **rank IoU**: the ERF's top-A pixels (A = the area of g's mask in that image) against the mask
  — parameter-free, and IoU = precision = recall at that cut;
- **pointing game**: the ERF's highest pixel falls inside g's mask.

Each concept is matched to the ground-truth concept of highest mean IoU (best match); the
summary is the mean over concepts. The same protocol on random concept directions is the
baseline: gradient ERFs concentrate on objects whatever the direction, so only the margin over
that baseline says the learned concepts carry ground-truth meaning.
"""

from __future__ import annotations

import numpy as np
import torch


def rank_iou(erf: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(M, H, W) maps and bool masks -> (M,) IoU of the top-|mask| pixels with the mask."""
    flat, target = erf.flatten(1), mask.flatten(1)
    area = target.sum(1)
    ranks = torch.argsort(torch.argsort(flat, dim=1, descending=True, stable=True), dim=1)
    top = ranks < area[:, None]
    inter = (top & target).sum(1).float()
    union = (top | target).sum(1).float()
    return inter / union.clamp(min=1)


def pointing_hits(erf: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(M,) whether the ERF's maximum lies inside the mask."""
    best = erf.flatten(1).argmax(1)
    return mask.flatten(1).gather(1, best[:, None]).squeeze(1)


def alignment_tables(
    erfs: torch.Tensor, active: torch.Tensor, masks: torch.Tensor
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean rank-IoU (K, G), pointing accuracy (K, G) and image counts (K, G).

    ``erfs`` (N, K, H, W); ``active`` (N, K) bool: concept q present in image n; ``masks``
    (N, G, H, W) bool ground truth.
    """
    k, g = erfs.shape[1], masks.shape[1]
    iou, point, count = np.zeros((k, g)), np.zeros((k, g)), np.zeros((k, g), dtype=np.int64)
    present = masks.flatten(2).any(2)  # (N, G)
    for q in range(k):
        for c in range(g):
            rows = torch.nonzero(active[:, q] & present[:, c]).flatten()
            count[q, c] = len(rows)
            if len(rows):
                iou[q, c] = float(rank_iou(erfs[rows, q], masks[rows, c]).mean())
                point[q, c] = float(pointing_hits(erfs[rows, q], masks[rows, c]).float().mean())
    return iou, point, count


def best_match(iou: np.ndarray, point: np.ndarray, count: np.ndarray, min_images: int = 5) -> dict:
    """Per concept the best-matching ground-truth concept; means over concepts with enough images."""
    valid: np.ndarray = np.asarray(count >= min_images)
    masked = np.where(valid, iou, -np.inf)
    best = masked.argmax(1)
    usable = np.asarray(valid.any(1))
    rows = np.nonzero(usable)[0]
    return {
        "match": [int(best[q]) if usable[q] else -1 for q in range(len(iou))],
        "iou": [float(iou[q, best[q]]) if usable[q] else None for q in range(len(iou))],
        "pointing": [float(point[q, best[q]]) if usable[q] else None for q in range(len(iou))],
        "mean_iou": float(iou[rows, best[rows]].mean()) if len(rows) else float("nan"),
        "mean_pointing": float(point[rows, best[rows]].mean()) if len(rows) else float("nan"),
        "n_concepts": len(rows),
    }


def concept_alignment(
    head: torch.nn.Module,
    x: torch.Tensor,
    coefficients: torch.Tensor,
    directions: torch.Tensor,
    masks: torch.Tensor,
    concepts: torch.Tensor,
    max_images: int,
    min_images: int = 5,
    active_share: float = 0.1,
) -> dict:
    """``best_match`` of the chosen ``concepts`` (indices) from their gradient ERFs.

    A concept is *active* in an image when its coefficient mass there is positive and at least
    ``active_share`` of its largest mass over the images; its ERF is computed on its
    ``max_images`` most active images only (cost: one input gradient per image and concept).
    ``coefficients`` (N, K, h, w); ``directions`` (K, C); ``masks`` (N, G, H, W) bool.
    """
    from revis.attribution.erf import paired_concept_erfs

    mass = coefficients.flatten(2).sum(2).cpu()  # (N, K)
    pairs_image, pairs_concept = [], []
    for q in concepts.tolist():
        m = mass[:, q]
        active = torch.nonzero((m > 0) & (m >= active_share * m.max())).flatten()
        chosen = active[torch.argsort(m[active], descending=True)[:max_images]]
        pairs_image.append(chosen)
        pairs_concept.append(torch.full_like(chosen, q))
    images, which = torch.cat(pairs_image), torch.cat(pairs_concept)
    erfs = paired_concept_erfs(
        head, x, images, coefficients[images.to(coefficients.device), which.to(coefficients.device)], directions[which]
    ).cpu()
    present = masks.flatten(2).any(2)  # (N, G)
    g = masks.shape[1]
    iou, point = np.zeros((len(concepts), g)), np.zeros((len(concepts), g))
    count = np.zeros((len(concepts), g), dtype=np.int64)
    start = 0
    for row, chosen in enumerate(pairs_image):
        block = erfs[start : start + len(chosen)]
        start += len(chosen)
        for c in range(g):
            keep = present[chosen, c]
            count[row, c] = int(keep.sum())
            if count[row, c]:
                iou[row, c] = float(rank_iou(block[keep], masks[chosen[keep], c]).mean())
                point[row, c] = float(pointing_hits(block[keep], masks[chosen[keep], c]).float().mean())
    return best_match(iou, point, count, min_images)
