"""Image mosaics for pictures: one row per class (distilled sets, support vectors, subsets)."""

from __future__ import annotations

import numpy as np
import torch


def class_mosaic(
    images: torch.Tensor, labels: torch.Tensor, num_classes: int, per_class: int, pad: int = 1
) -> np.ndarray:
    """(rows*H, cols*W, 3) float mosaic in [0, 1]: row c holds up to ``per_class`` images of class c."""
    images = images.detach().float().clamp(0, 1).cpu()
    if images.shape[1] == 1:
        images = images.repeat(1, 3, 1, 1)
    _, _, h, w = images.shape
    canvas = np.ones((num_classes * (h + pad) + pad, per_class * (w + pad) + pad, 3), dtype=np.float32)
    for c in range(num_classes):
        members = images[labels.cpu() == c][:per_class]
        for j, image in enumerate(members):
            top, left = pad + c * (h + pad), pad + j * (w + pad)
            canvas[top : top + h, left : left + w] = image.permute(1, 2, 0).numpy()
    return canvas
