"""params.yaml section ``world``: the mini world's generators.

Sizes are bounded twice: each count has an upper bound, and the images a generator holds in
memory at once are estimated before anything is generated (``MEMORY_LIMIT_GIB``), so a typo
such as ``n_train: 1e8`` (286 GiB) fails in validation, naming the key, instead of filling
the machine.
"""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import BaseModel, Field, model_validator

from revis.config.types import STRICT, FloatRange, Fraction, IntRange, Seed

MEMORY_LIMIT_GIB = 4.0  # images a generator may hold in memory at once
GIB = 2**30


def _memory_check(key: str, images: int, bytes_per_image: int) -> None:
    need = images * bytes_per_image / GIB
    if need > MEMORY_LIMIT_GIB:
        raise ValueError(
            f"{key}: {images} images of {bytes_per_image} bytes need ~{need:.1f} GiB in memory, more than the "
            f"{MEMORY_LIMIT_GIB:g} GiB allowed (revis.pipelines.world.params.MEMORY_LIMIT_GIB); lower the counts or the size"
        )


class ShapesParams(BaseModel):
    model_config = STRICT
    n_train: int = Field(ge=10, le=200_000)
    n_test: int = Field(ge=10, le=200_000)
    image_size: int = Field(32, ge=16, le=128)
    distractors: IntRange = [1, 2]
    radius: FloatRange = [5.0, 8.0]
    noise: float = Field(6.0, ge=0, le=64)

    @model_validator(mode="after")
    def _fits(self) -> ShapesParams:
        if self.distractors[1] > 8:
            raise ValueError(f"distractors: at most 8 per image, got {self.distractors}")
        if self.radius[0] < 1 or 2 * self.radius[1] + 2 > self.image_size:
            raise ValueError(f"radius {self.radius}: need 1 <= radius and 2 * radius + 2 <= image_size")
        # RGB pixels + 7 boolean concept masks per image
        _memory_check("n_train + n_test", self.n_train + self.n_test, self.image_size**2 * (3 + 7))
        return self


PositiveFrequency = Annotated[float, Field(gt=0, le=1e6)]


class DetectionParams(BaseModel):
    model_config = STRICT
    n_families: int = Field(ge=4, le=50_000)  # families (a scene and its near-duplicates) in the train pool
    family_size: IntRange = [1, 4]
    n_test_families: int = Field(ge=1, le=50_000)  # held-out families (never near-duplicates of the pool)
    test_family_size: IntRange = [1, 1]  # images per held-out family: 1 = independent test scenes
    image_size: int = Field(128, ge=64, le=1024)
    objects_per_scene: IntRange = [2, 5]
    radius: FloatRange = [8.0, 20.0]
    # relative frequency of each class (circle, square, triangle, cross, ring); each > 0
    class_frequencies: list[PositiveFrequency] = Field(
        default=[0.4, 0.25, 0.17, 0.11, 0.07], min_length=5, max_length=5
    )
    jitter: float = Field(3.0, ge=0, le=32)  # px an object moves between family members
    clutter: IntRange = [3, 7]

    @model_validator(mode="after")
    def _fits(self) -> DetectionParams:
        if self.family_size[0] < 1 or self.family_size[1] > 16:
            raise ValueError(f"family_size {self.family_size}: between 1 and 16 images")
        if self.test_family_size[0] < 1 or self.test_family_size[1] > 16:
            raise ValueError(f"test_family_size {self.test_family_size}: between 1 and 16 images")
        if self.objects_per_scene[0] < 1 or self.objects_per_scene[1] > 20:
            raise ValueError(f"objects_per_scene {self.objects_per_scene}: between 1 and 20")
        if self.clutter[1] > 50:
            raise ValueError(f"clutter {self.clutter}: at most 50 strokes")
        low, high = self.radius
        if low < 3 or 2 * high + 2 > self.image_size:
            raise ValueError(f"radius {self.radius}: need 3 <= radius and 2 * radius + 2 <= image_size")
        # the largest scene must have room: its discs of the smallest radius cover at most half the image
        if self.objects_per_scene[1] * math.pi * (low + 1) ** 2 > 0.5 * self.image_size**2:
            raise ValueError(
                f"objects_per_scene {self.objects_per_scene} discs of radius >= {low} do not fit in "
                f"{self.image_size} px scenes"
            )
        images = self.n_families * self.family_size[1] + self.n_test_families * self.test_family_size[1]
        _memory_check("n_families, n_test_families", images, self.image_size**2 * 3)
        return self


class DigitsParams(BaseModel):
    model_config = STRICT
    test_fraction: Fraction = 0.3


class Params(BaseModel):
    model_config = STRICT
    seed: Seed = 0
    shapes: ShapesParams
    detection: DetectionParams
    digits: DigitsParams = DigitsParams()
