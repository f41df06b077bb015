"""Differentiable augmentation in the style of DSA (Zhao & Bilen, "Differentiable Siamese Augmentation").

Every op is differentiable in the images, so gradients reach synthetic pixels through it.
Randomness is split from application: ``draw`` samples the random values once, ``apply``
uses them. A draw with one row is shared by a whole batch, which is what *siamese*
augmentation needs: DM applies the very same transformation to the real and the synthetic
batch of a class (``aug.apply(real, d)``, ``aug.apply(syn, d)`` with one ``d``). A draw with
one row per image augments each image differently (DeepKKT's candidate augmentation).

Default strengths are DSA's (``ParamDiffAug``): brightness 1.0, saturation 2.0, contrast
0.5, crop/translate 1/8 of the side, cutout 1/2 of the side, scale 1.2, rotation 15 degrees.

``single=True`` is DSA's default mode (``aug_mode = 'S'`` in VICO-UoE/DatasetCondensation):
every draw picks *one* op of the list at random (``color`` counts as one op: brightness,
saturation and contrast together) and applies only that one; a shared draw shares the choice
too. ``single=False`` applies every op in order (DSA's ``'M'`` mode). Deviations from the
reference's ops, kept on purpose: crop translates continuously (bilinear) instead of by whole
pixels, and cutout is a continuous square; both stay differentiable in the images.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

OPS = ("color", "crop", "cutout", "flip", "scale", "rotate", "noise")


@dataclass
class AugmentDraw:
    """Random values of one augmentation: op -> named tensors with leading dim 1 (shared) or N."""

    rows: int
    values: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    ops: tuple[str, ...] | None = None  # the ops this draw applies (None: all of the augmentation's)


class DiffAugment:
    """A sequence of differentiable ops (names from ``OPS``) applied in the given order."""

    def __init__(
        self,
        ops: Sequence[str],
        *,
        brightness: float = 1.0,
        saturation: float = 2.0,
        contrast: float = 0.5,
        crop: float = 0.125,
        cutout: float = 0.5,
        scale: float = 1.2,
        rotate: float = 15.0,
        noise: float = 0.05,
        single: bool = False,
    ) -> None:
        unknown = [op for op in ops if op not in OPS]
        if unknown:
            raise ValueError(f"unknown augmentation ops {unknown}; known: {list(OPS)}")
        self.ops = tuple(ops)
        self.single = single
        self.brightness, self.saturation, self.contrast = brightness, saturation, contrast
        self.crop, self.cutout, self.scale, self.rotate, self.noise = crop, cutout, scale, rotate, noise

    def __bool__(self) -> bool:
        return bool(self.ops)

    def draw(self, rows: int, image_shape: Sequence[int], generator: torch.Generator) -> AugmentDraw:
        """Sample the random values: ``rows`` = 1 shares one transformation across the batch."""

        def u(*shape: int) -> torch.Tensor:
            return torch.rand(rows, *shape, generator=generator)

        values: dict[str, dict[str, torch.Tensor]] = {}
        ops = self.ops
        if self.single and ops:
            ops = (ops[int(torch.randint(len(ops), (1,), generator=generator))],)
        for op in ops:
            if op == "color":
                values[op] = {"brightness": u(1, 1, 1), "saturation": u(1, 1, 1), "contrast": u(1, 1, 1)}
            elif op in ("crop", "cutout"):
                values[op] = {"y": u(), "x": u()}
            elif op == "flip":
                values[op] = {"flip": u() < 0.5}
            elif op == "scale":
                values[op] = {"sx": u(), "sy": u()}
            elif op == "rotate":
                values[op] = {"angle": u()}
            elif op == "noise":
                values[op] = {"eps": torch.randn(rows, *image_shape, generator=generator)}
        return AugmentDraw(rows, values, ops)

    def apply(self, x: torch.Tensor, draw: AugmentDraw) -> torch.Tensor:
        if draw.rows not in (1, len(x)):
            raise ValueError(f"a draw of {draw.rows} rows cannot augment a batch of {len(x)}")
        for op in draw.ops if draw.ops is not None else self.ops:
            v = {k: t.to(x.device) for k, t in draw.values[op].items()}
            x = getattr(self, f"_{op}")(x, v)
        return x

    def __call__(self, x: torch.Tensor, generator: torch.Generator, shared: bool = False) -> torch.Tensor:
        """Augment with a fresh draw: one per image, or one for the whole batch (``shared``)."""
        return self.apply(x, self.draw(1 if shared else len(x), x.shape[1:], generator))

    # --- ops: x (N, C, H, W); random values broadcast from 1 or N rows ---------------------------
    def _color(self, x: torch.Tensor, v: dict[str, torch.Tensor]) -> torch.Tensor:
        x = x + (v["brightness"] - 0.5) * self.brightness
        if x.shape[1] > 1:  # saturation is a no-op on grey images
            mean = x.mean(dim=1, keepdim=True)
            x = (x - mean) * (v["saturation"] * self.saturation) + mean
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        return (x - mean) * (v["contrast"] + self.contrast) + mean

    def _affine(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        theta = theta.expand(len(x), 2, 3)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def _crop(self, x: torch.Tensor, v: dict[str, torch.Tensor]) -> torch.Tensor:
        # DSA's crop: translate by up to `crop` of the side, zero padding
        ty, tx = (2 * v["y"] - 1) * self.crop * 2, (2 * v["x"] - 1) * self.crop * 2
        one, zero = torch.ones_like(tx), torch.zeros_like(tx)
        theta = torch.stack([torch.stack([one, zero, tx], -1), torch.stack([zero, one, ty], -1)], 1)
        return self._affine(x, theta)

    def _scale(self, x: torch.Tensor, v: dict[str, torch.Tensor]) -> torch.Tensor:
        low = 1.0 / self.scale
        sx, sy = v["sx"] * (self.scale - low) + low, v["sy"] * (self.scale - low) + low
        zero = torch.zeros_like(sx)
        theta = torch.stack([torch.stack([sx, zero, zero], -1), torch.stack([zero, sy, zero], -1)], 1)
        return self._affine(x, theta)

    def _rotate(self, x: torch.Tensor, v: dict[str, torch.Tensor]) -> torch.Tensor:
        angle = (v["angle"] - 0.5) * 2 * self.rotate * math.pi / 180
        cos, sin, zero = torch.cos(angle), torch.sin(angle), torch.zeros_like(angle)
        theta = torch.stack([torch.stack([cos, sin, zero], -1), torch.stack([-sin, cos, zero], -1)], 1)
        return self._affine(x, theta)

    def _flip(self, x: torch.Tensor, v: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.where(v["flip"][:, None, None, None], x.flip(3), x)

    def _cutout(self, x: torch.Tensor, v: dict[str, torch.Tensor]) -> torch.Tensor:
        h, w = x.shape[-2:]
        half_h, half_w = self.cutout * h / 2, self.cutout * w / 2
        rows = torch.arange(h, device=x.device, dtype=x.dtype) + 0.5
        cols = torch.arange(w, device=x.device, dtype=x.dtype) + 0.5
        inside_y = (rows[None, :] - v["y"][:, None] * h).abs() < half_h  # (n, H)
        inside_x = (cols[None, :] - v["x"][:, None] * w).abs() < half_w  # (n, W)
        mask = (inside_y[:, :, None] & inside_x[:, None, :])[:, None]  # (n, 1, H, W)
        return x * (~mask).to(x.dtype)

    def _noise(self, x: torch.Tensor, v: dict[str, torch.Tensor]) -> torch.Tensor:
        return x + self.noise * v["eps"]
