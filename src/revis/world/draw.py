"""Binary rasterisation of simple shapes; exact masks are the world's ground truth."""

from __future__ import annotations

import numpy as np

SHAPE_NAMES = ("circle", "square", "triangle", "cross", "ring")


def shape_mask(
    shape: str, height: int, width: int, cy: float, cx: float, radius: float, angle: float = 0.0
) -> np.ndarray:
    """Boolean (H, W) mask of ``shape`` centred at (cy, cx) with outer radius ``radius``."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    dy, dx = ys - cy, xs - cx
    cos, sin = np.cos(angle), np.sin(angle)
    u, v = cos * dx + sin * dy, -sin * dx + cos * dy  # rotated coordinates
    if shape == "circle":
        return dx**2 + dy**2 <= radius**2
    if shape == "square":
        half = radius * 0.82
        return (np.abs(u) <= half) & (np.abs(v) <= half)
    if shape == "triangle":
        # equilateral with a vertex pointing up: inside all three edges, whose outward
        # normals point down and up-left/up-right; the inradius is half the circumradius
        inside = np.ones_like(u, dtype=bool)
        for theta in (np.pi / 2, np.pi / 2 + 2 * np.pi / 3, np.pi / 2 + 4 * np.pi / 3):
            inside &= u * np.cos(theta) + v * np.sin(theta) <= radius * 0.5
        return inside
    if shape == "cross":
        arm = radius * 0.32
        return ((np.abs(u) <= arm) & (np.abs(v) <= radius)) | ((np.abs(v) <= arm) & (np.abs(u) <= radius))
    if shape == "ring":
        d2 = dx**2 + dy**2
        return (d2 <= radius**2) & (d2 >= (radius * 0.55) ** 2)
    raise ValueError(f"unknown shape {shape!r}; known: {SHAPE_NAMES}")


def stripe_pattern(height: int, width: int, period: int, phase: int = 0) -> np.ndarray:
    """Diagonal stripes: True on the light lines."""
    ys, xs = np.mgrid[0:height, 0:width]
    return ((xs + ys + phase) // max(1, period // 2)) % 2 == 0


def smooth_background(
    rng: np.random.Generator, height: int, width: int, low: int, high: int, noise: float
) -> np.ndarray:
    """Low-frequency, slightly tinted background plus pixel noise, uint8 (H, W, 3)."""
    coarse = rng.uniform(low, high, size=(4, 4, 1)) + rng.uniform(-12, 12, size=(4, 4, 3))
    rows = np.linspace(0, 3, height)
    cols = np.linspace(0, 3, width)
    r0, c0 = np.floor(rows).astype(int).clip(0, 2), np.floor(cols).astype(int).clip(0, 2)
    fr, fc = (rows - r0)[:, None, None], (cols - c0)[None, :, None]
    top = coarse[r0][:, c0] * (1 - fc) + coarse[r0][:, c0 + 1] * fc
    bottom = coarse[r0 + 1][:, c0] * (1 - fc) + coarse[r0 + 1][:, c0 + 1] * fc
    image = top * (1 - fr) + bottom * fr + rng.normal(0, noise, size=(height, width, 3))
    return image.clip(0, 255).astype(np.uint8)


def place_without_overlap(
    rng: np.random.Generator, radii: list[float], height: int, width: int, gap: float = 1.0, tries: int = 200
) -> list[tuple[float, float]] | None:
    """Centres for discs of the given radii that stay inside the image and do not overlap."""
    centres: list[tuple[float, float]] = []
    for radius in radii:
        for _ in range(tries):
            cy = rng.uniform(radius + 0.5, height - radius - 0.5)
            cx = rng.uniform(radius + 0.5, width - radius - 0.5)
            if all((cy - y) ** 2 + (cx - x) ** 2 > (radius + r + gap) ** 2 for (y, x), r in zip(centres, radii)):
                centres.append((cy, cx))
                break
        else:
            return None
    return centres
