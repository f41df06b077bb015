"""Summaries that every paper's metrics.json uses."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def mean_std(values: Sequence[float]) -> dict[str, float]:
    """Mean and (population) standard deviation over seeds / models, plus the count."""
    array = np.asarray(values, dtype=float)
    return {"mean": float(array.mean()), "std": float(array.std()), "n": int(array.size)}


def flat_numbers(tree: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Dotted name -> float for every finite numeric leaf (bools count; strings, lists do not)."""
    flat: dict[str, float] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flat_numbers(value, f"{name}."))
        elif isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating)) and math.isfinite(float(value)):
            flat[name] = float(value)
    return flat
