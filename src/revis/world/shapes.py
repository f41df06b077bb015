"""The shapes world: small RGB images whose classes are defined by visual concepts.

Every image holds one *key* object whose concepts satisfy exactly one class rule, plus
distractor objects whose concept combinations satisfy none. Because distractors share
single concepts with the rules (a red triangle is red, a blue square is a square), a
classifier must bind a colour or texture to a shape *on the same object*; no single concept
decides the class. Per-pixel masks of every concept are kept as ground truth.

Concepts: colours red/green/blue, shapes circle/square/triangle, texture stripes.

Class rules (the key object has all listed concepts):

==============  ======================
class           concepts
==============  ======================
red_circle      red, circle
red_square      red, square (solid)
blue_circle     blue, circle
green_triangle  green, triangle
striped_square  stripes, square (blue or green)
==============  ======================
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np

from revis.datasets.imageset import ImageSet
from revis.world.draw import place_without_overlap, shape_mask, smooth_background, stripe_pattern

COLOURS = {"red": (215, 45, 40), "green": (45, 165, 60), "blue": (45, 85, 225)}
SHAPES = ("circle", "square", "triangle")
CONCEPTS = ("red", "green", "blue", "circle", "square", "triangle", "stripes")
CLASS_RULES: dict[str, tuple[str, ...]] = {
    "red_circle": ("red", "circle"),
    "red_square": ("red", "square"),
    "blue_circle": ("blue", "circle"),
    "green_triangle": ("green", "triangle"),
    "striped_square": ("stripes", "square"),
}
CLASS_NAMES = list(CLASS_RULES)


@dataclass(frozen=True)
class ObjectSpec:
    colour: str
    shape: str
    striped: bool

    @property
    def concepts(self) -> set[str]:
        return {self.colour, self.shape} | ({"stripes"} if self.striped else set())


def matching_classes(obj: ObjectSpec) -> list[str]:
    return [name for name, rule in CLASS_RULES.items() if set(rule) <= obj.concepts]


ALL_OBJECTS = [ObjectSpec(c, s, t) for c, s, t in product(COLOURS, SHAPES, (False, True))]
# key objects of a class match that class alone; distractors match no class
KEY_OBJECTS = {name: [o for o in ALL_OBJECTS if matching_classes(o) == [name]] for name in CLASS_NAMES}
DISTRACTORS = [o for o in ALL_OBJECTS if not matching_classes(o)]


def world_rules() -> dict:
    """The world's documented rules, written next to the data as ``world.json``."""
    return {
        "concepts": list(CONCEPTS),
        "classes": {name: list(rule) for name, rule in CLASS_RULES.items()},
        "key_objects": {name: [o.__dict__ for o in objs] for name, objs in KEY_OBJECTS.items()},
        "distractors": [o.__dict__ for o in DISTRACTORS],
    }


def _render(
    rng: np.random.Generator, objects: list[ObjectSpec], size: int, radius_range: tuple[float, float], noise: float
) -> tuple[np.ndarray, np.ndarray] | None:
    radii = list(rng.uniform(*radius_range, size=len(objects)))
    centres = place_without_overlap(rng, radii, size, size, gap=1.0)
    if centres is None:
        return None
    image = smooth_background(rng, size, size, low=90, high=170, noise=noise).astype(np.float32)
    masks = np.zeros((len(CONCEPTS), size, size), dtype=bool)
    for obj, radius, (cy, cx) in zip(objects, radii, centres):
        mask = shape_mask(obj.shape, size, size, cy, cx, radius, angle=rng.uniform(-0.3, 0.3))
        colour = np.array(COLOURS[obj.colour], dtype=np.float32) + rng.normal(0, 12, size=3)
        pixels = np.broadcast_to(colour, (size, size, 3)).copy()
        if obj.striped:
            lines = stripe_pattern(size, size, period=4, phase=int(rng.integers(0, 4)))
            pixels[lines] = pixels[lines] * 0.35 + 255 * 0.65
        image[mask] = pixels[mask] + rng.normal(0, noise, size=(int(mask.sum()), 3))
        for concept in obj.concepts:
            masks[CONCEPTS.index(concept)] |= mask
    return image.clip(0, 255).astype(np.uint8), masks


def generate_shapes(
    n: int,
    seed: int,
    size: int = 32,
    distractors: tuple[int, int] = (1, 2),
    radius_range: tuple[float, float] = (5.0, 8.0),
    noise: float = 6.0,
) -> ImageSet:
    """``n`` images with balanced classes, deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, size, size, 3), dtype=np.uint8)
    masks = np.zeros((n, len(CONCEPTS), size, size), dtype=bool)
    labels = np.arange(n) % len(CLASS_NAMES)
    rng.shuffle(labels)
    for i, label in enumerate(labels):
        while True:
            key = KEY_OBJECTS[CLASS_NAMES[label]][rng.integers(len(KEY_OBJECTS[CLASS_NAMES[label]]))]
            count = int(rng.integers(distractors[0], distractors[1] + 1))
            objects = [key] + [DISTRACTORS[j] for j in rng.integers(len(DISTRACTORS), size=count)]
            rendered = _render(rng, objects, size, radius_range, noise)
            if rendered is not None:
                images[i], masks[i] = rendered
                break
    return ImageSet(
        images=images,
        labels=labels,
        class_names=list(CLASS_NAMES),
        concept_names=list(CONCEPTS),
        concept_masks=masks,
        concept_presence=np.asarray(masks.any(axis=(2, 3))),
    )
