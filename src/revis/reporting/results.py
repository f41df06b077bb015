"""Typed results to the JSON tree that ``metrics.json`` holds: the one place results are serialised.

Library functions return typed results (frozen dataclasses or pydantic models); the metrics catalog
dataset (``revis.catalog.files.MetricsDataset``) writes them with :func:`to_json`, so no node or
library function builds the file's dicts by hand.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np


def to_json(value: Any) -> Any:
    """JSON-ready: dataclasses and pydantic models to dicts (field order), mappings with string keys,
    tuples to lists, numpy/torch scalars and arrays to Python; NaN and infinities to None."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: to_json(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if hasattr(type(value), "model_fields") and hasattr(value, "model_dump"):
        return to_json(value.model_dump())
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    torch = sys.modules.get("torch")  # a tensor can only exist if torch is imported
    if isinstance(value, np.ndarray) or (torch is not None and isinstance(value, torch.Tensor)):
        return to_json(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
