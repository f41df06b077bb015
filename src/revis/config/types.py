"""Small reusable parameter types for the per-pipeline schemas."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field

# Every section rejects unknown keys and silent type coercion.
STRICT = ConfigDict(extra="forbid", strict=True)


def _ordered(pair: list) -> list:
    if pair[0] > pair[1]:
        raise ValueError(f"range must be [low, high] with low <= high, got {pair}")
    return pair


IntRange = Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=2, max_length=2), AfterValidator(_ordered)]
FloatRange = Annotated[list[Annotated[float, Field(ge=0)]], Field(min_length=2, max_length=2), AfterValidator(_ordered)]
Fraction = Annotated[float, Field(gt=0, lt=1)]
Seed = Annotated[int, Field(ge=0, le=2**31 - 1)]
