"""params.yaml section ``world``: the mini world's generators."""

from __future__ import annotations

from pydantic import BaseModel, Field

from revis.config.types import STRICT, FloatRange, Fraction, IntRange, Seed


class ShapesParams(BaseModel):
    model_config = STRICT
    n_train: int = Field(ge=10)
    n_test: int = Field(ge=10)
    image_size: int = Field(32, ge=16, le=128)
    distractors: IntRange = [1, 2]
    radius: FloatRange = [5.0, 8.0]
    noise: float = Field(6.0, ge=0, le=64)


class DetectionParams(BaseModel):
    model_config = STRICT
    n_families: int = Field(ge=4)
    family_size: IntRange = [1, 4]
    image_size: int = Field(128, ge=64, le=1024)
    objects_per_scene: IntRange = [2, 5]
    radius: FloatRange = [8.0, 20.0]
    class_frequencies: list[float] = Field(default=[0.4, 0.25, 0.17, 0.11, 0.07], min_length=5, max_length=5)
    jitter: float = Field(3.0, ge=0)
    clutter: IntRange = [3, 7]
    test_fraction: Fraction = 0.25


class DigitsParams(BaseModel):
    model_config = STRICT
    test_fraction: Fraction = 0.3


class Params(BaseModel):
    model_config = STRICT
    seed: Seed = 0
    shapes: ShapesParams
    detection: DetectionParams
    digits: DigitsParams = DigitsParams()
