"""Detection scenes: several shapes per image, imbalanced classes, near-duplicate families.

A *family* is one scene rendered several times: its members share the background and the
clutter, and differ only by small jitter (object positions by at most ``jitter`` px, object
colours, fresh pixel noise) -- near-duplicates in pixels, which make coreset selection
matter (a family-mate is an image's nearest neighbour in pixels; tested). Class frequencies are
imbalanced by design. Colour is random and carries no class information; background
clutter (thin lines and blobs) are distractors. The train pool and the test split are
separate families, so no near-duplicate of a test image is in the pool; test families hold
one image by default (independent test scenes: each adds information to the AP estimate).
Boxes are tight around the exact object masks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from revis.datasets.voc import VocObject, VocScene
from revis.world.draw import place_without_overlap, shape_mask, smooth_background

DETECTION_CLASSES = ("circle", "square", "triangle", "cross", "ring")


@dataclass
class DetectionWorld:
    scenes: list[VocScene]
    splits: dict[str, list[str]]
    class_names: list[str]
    family_of: dict[str, int]


def _clutter(rng: np.random.Generator, image: np.ndarray, count: int) -> None:
    height, width = image.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width]
    for _ in range(count):
        colour = rng.uniform(40, 220, size=3)
        if rng.random() < 0.5:  # a thin line
            y0, x0, y1, x1 = rng.uniform(0, height, size=4)
            length = max(np.hypot(y1 - y0, x1 - x0), 1.0)
            dist = np.abs((y1 - y0) * xs - (x1 - x0) * ys + x1 * y0 - y1 * x0) / length
            t = ((xs - x0) * (x1 - x0) + (ys - y0) * (y1 - y0)) / length**2
            mask = (dist <= 0.8) & (t >= 0) & (t <= 1)
        else:  # a small soft blob
            cy, cx, r = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(2, 5)
            mask = (ys - cy) ** 2 + (xs - cx) ** 2 <= r**2
        image[mask] = image[mask] * 0.4 + colour * 0.6


def _layout(rng: np.random.Generator, size: int, classes: list[int], radius_range: tuple[float, float]) -> list | None:
    radii = list(rng.uniform(*radius_range, size=len(classes)))
    centres = place_without_overlap(rng, radii, size, size, gap=2.0)
    if centres is None:
        return None
    return [
        {
            "cls": c,
            "radius": r,
            "cy": cy,
            "cx": cx,
            "angle": rng.uniform(-0.4, 0.4),
            "colour": rng.uniform(30, 230, size=3),
        }
        for c, r, (cy, cx) in zip(classes, radii, centres)
    ]


def _family_base(rng: np.random.Generator, size: int, clutter: int) -> np.ndarray:
    """A family's shared backdrop: smooth background and clutter, without pixel noise (float32)."""
    image = smooth_background(rng, size, size, low=70, high=190, noise=0.0).astype(np.float32)
    _clutter(rng, image, clutter)
    return image


def _render(
    rng: np.random.Generator, base: np.ndarray, layout: list[dict], jitter: float, noise: float = 5.0
) -> VocScene:
    """One family member: the shared backdrop, fresh pixel noise, the layout's objects jittered by <= ``jitter`` px."""
    size = base.shape[0]
    image = base + rng.normal(0, noise, size=base.shape).astype(np.float32)
    objects = []
    for obj in layout:
        radius = obj["radius"]
        cy = float(np.clip(obj["cy"] + rng.uniform(-jitter, jitter), radius + 0.5, size - radius - 0.5))
        cx = float(np.clip(obj["cx"] + rng.uniform(-jitter, jitter), radius + 0.5, size - radius - 0.5))
        mask = shape_mask(DETECTION_CLASSES[obj["cls"]], size, size, cy, cx, radius, obj["angle"])
        if mask.sum() < 4:
            continue
        colour = obj["colour"] + rng.normal(0, 10, size=3)
        image[mask] = colour.clip(0, 255)
        rows, cols = np.nonzero(mask)
        box = (float(cols.min()), float(rows.min()), float(cols.max() + 1), float(rows.max() + 1))
        objects.append(VocObject(name=DETECTION_CLASSES[obj["cls"]], box=box))
    return VocScene(image_id="", image=image.clip(0, 255).astype(np.uint8), objects=objects)


def _family_layout(
    rng: np.random.Generator,
    size: int,
    probs: np.ndarray,
    objects_per_scene: tuple[int, int],
    radius_range: tuple[float, float],
    tries: int = 200,
) -> list[dict]:
    for _ in range(tries):
        count = int(rng.integers(objects_per_scene[0], objects_per_scene[1] + 1))
        layout = _layout(rng, size, list(rng.choice(len(probs), size=count, p=probs)), radius_range)
        if layout is not None:
            return layout
    raise ValueError(
        f"could not place {objects_per_scene} objects of radius {radius_range} in a {size} px scene "
        f"in {tries} tries; use fewer or smaller objects"
    )


def generate_detection_world(
    seed: int,
    n_families: int = 80,
    family_size: tuple[int, int] = (1, 4),
    n_test_families: int = 20,
    test_family_size: tuple[int, int] = (1, 1),
    image_size: int = 128,
    objects_per_scene: tuple[int, int] = (2, 5),
    radius_range: tuple[float, float] = (8.0, 20.0),
    class_frequencies: tuple[float, ...] = (0.4, 0.25, 0.17, 0.11, 0.07),
    jitter: float = 3.0,
    clutter: tuple[int, int] = (3, 7),
) -> DetectionWorld:
    """``n_families`` families in the train pool, then ``n_test_families`` held-out ones; deterministic in ``seed``.

    Image ids are consecutive over the pool, then the test families; the splits never share a family.
    """
    if len(class_frequencies) != len(DETECTION_CLASSES):
        raise ValueError(f"class_frequencies needs {len(DETECTION_CLASSES)} values, one per class")
    if min(class_frequencies) <= 0:
        raise ValueError(f"class_frequencies must be > 0 (every class occurs), got {list(class_frequencies)}")
    rng = np.random.default_rng(seed)
    probs = np.asarray(class_frequencies, dtype=float) / np.sum(class_frequencies)
    scenes: list[VocScene] = []
    family_of: dict[str, int] = {}
    splits: dict[str, list[str]] = {"train": [], "test": []}
    plan = [("train", family_size)] * n_families + [("test", test_family_size)] * n_test_families
    for family, (split, sizes) in enumerate(plan):
        layout = _family_layout(rng, image_size, probs, objects_per_scene, radius_range)
        base = _family_base(rng, image_size, int(rng.integers(clutter[0], clutter[1] + 1)))
        for member in range(int(rng.integers(sizes[0], sizes[1] + 1))):
            scene = _render(rng, base, layout, jitter if member else 0.0)
            scene.image_id = f"{len(scenes):06d}"
            family_of[scene.image_id] = family
            splits[split].append(scene.image_id)
            scenes.append(scene)
    splits["trainval"] = list(splits["train"])
    return DetectionWorld(scenes=scenes, splits=splits, class_names=list(DETECTION_CLASSES), family_of=family_of)
