"""Weak and strong views of a detection batch, as mean-teacher detectors use them (Unbiased Teacher).

- *weak*: a random horizontal flip (boxes flipped with the pixels) -- the teacher's view of
  unlabeled images, and the geometry every other view shares;
- *strong*: the weak view plus photometric noise the boxes do not move with: colour jitter
  (brightness, contrast, saturation), random grayscale, Gaussian blur and cutout patches.
  The student learns from the strong view, so pseudo-labels made on the weak view apply to it
  unchanged.

All functions take uint8 or float batches (B, 3, S, S) and an explicit ``torch.Generator``
(deterministic on CPU); geometry is applied to boxes given in canvas pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class StrongAugment:
    brightness: float = 0.4  # factors drawn from [1 - b, 1 + b]
    contrast: float = 0.4
    saturation: float = 0.4
    grayscale: float = 0.2  # probability
    blur: float = 0.3  # probability of a Gaussian blur, sigma in [0.3, 1.2] px
    cutout: float = 0.5  # probability of 1-3 grey patches of 5-20 % of the side


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def flip_boxes(boxes: torch.Tensor, imgsz: int) -> torch.Tensor:
    """x0 y0 x1 y1 boxes of a horizontally flipped ``imgsz`` canvas."""
    return torch.stack([imgsz - boxes[:, 2], boxes[:, 1], imgsz - boxes[:, 0], boxes[:, 3]], dim=1)


@overload
def weak_view(
    images: torch.Tensor, boxes: Sequence[torch.Tensor], generator: torch.Generator, flip: float = 0.5
) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]: ...


@overload
def weak_view(
    images: torch.Tensor, boxes: None, generator: torch.Generator, flip: float = 0.5
) -> tuple[torch.Tensor, None, torch.Tensor]: ...


def weak_view(
    images: torch.Tensor, boxes: Sequence[torch.Tensor] | None, generator: torch.Generator, flip: float = 0.5
) -> tuple[torch.Tensor, list[torch.Tensor] | None, torch.Tensor]:
    """Random horizontal flips: (images, boxes or None, which images were flipped)."""
    flipped = torch.rand(len(images), generator=generator) < flip
    out = images.clone()
    out[flipped] = out[flipped].flip(-1)
    if boxes is None:
        return out, None, flipped
    size = images.shape[-1]
    new_boxes = [flip_boxes(b, size) if f else b.clone() for b, f in zip(boxes, flipped.tolist())]
    return out, new_boxes, flipped


def _gray(x: torch.Tensor) -> torch.Tensor:
    return (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).expand_as(x)


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = 2
    t = torch.arange(-radius, radius + 1, dtype=x.dtype)
    kernel = torch.exp(-(t**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    channels = x.shape[1]
    x = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels)
    return F.conv2d(x, kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels)


def strong_view(
    images: torch.Tensor, generator: torch.Generator, config: StrongAugment = StrongAugment()
) -> torch.Tensor:
    """Photometric noise on float images in [0, 1] (B, 3, S, S); boxes are unchanged (module doc)."""
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.clone()
    n, size = len(x), x.shape[-1]
    if n == 0:
        return x
    b = _uniform(n, 1 - config.brightness, 1 + config.brightness, generator).view(-1, 1, 1, 1)
    x = x * b
    c = _uniform(n, 1 - config.contrast, 1 + config.contrast, generator).view(-1, 1, 1, 1)
    mean = _gray(x).mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * c + mean
    s = _uniform(n, 1 - config.saturation, 1 + config.saturation, generator).view(-1, 1, 1, 1)
    gray = _gray(x)
    x = (x - gray) * s + gray
    to_gray = torch.rand(n, generator=generator) < config.grayscale
    x[to_gray] = _gray(x[to_gray])
    blur = torch.rand(n, generator=generator) < config.blur
    sigmas = _uniform(n, 0.3, 1.2, generator)
    for i in torch.nonzero(blur).flatten().tolist():
        x[i : i + 1] = _blur(x[i : i + 1], float(sigmas[i]))
    cut = torch.rand(n, generator=generator) < config.cutout
    for i in torch.nonzero(cut).flatten().tolist():
        for _ in range(int(torch.randint(1, 4, (1,), generator=generator))):
            h, w = (int(v) for v in torch.randint(max(1, size // 20), max(2, size // 5), (2,), generator=generator))
            top, left = (int(v) for v in torch.randint(0, size - min(h, w) + 1, (2,), generator=generator))
            x[i, :, top : top + h, left : left + w] = 0.5
    return x.clamp(0.0, 1.0)
