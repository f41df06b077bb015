"""One interface for every selector: ``build_selector(method, **params).select(pool, budget, seed)``.

``select`` returns indices into ``pool.image_ids`` in the order picked. Deterministic
selectors ignore ``seed``; random ones (and k-center's first centre) draw from it.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from revis.selection.baselines import ClassBalancedRandom, RandomImages
from revis.selection.csod import CSOD, CSODImageLevel
from revis.selection.pool import SelectionPool
from revis.selection.submodular import FacilityLocation, KCenter


class Selector(Protocol):
    name: str

    def select(self, pool: SelectionPool, budget: int, seed: int = 0) -> np.ndarray: ...


SELECTORS: dict[str, type] = {
    "random": RandomImages,
    "balanced_random": ClassBalancedRandom,
    "csod": CSOD,
    "csod_image": CSODImageLevel,
    "facility_location": FacilityLocation,
    "k_center": KCenter,
}


def build_selector(method: str, **params: Any) -> Selector:
    if method not in SELECTORS:
        raise KeyError(f"unknown selection method {method!r} (have {sorted(SELECTORS)})")
    return SELECTORS[method](**params)
