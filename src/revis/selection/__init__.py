"""Coreset selection: CSOD's class-wise greedy and the baselines it is compared with.

Every selector has one call: ``selector.select(pool, budget, seed) -> image indices``; see
``registry.build_selector``. ``python -m revis.selection.benchmark`` times CSOD against
apricot-select's graph cut.
"""

from revis.selection.baselines import ClassBalancedRandom, RandomImages
from revis.selection.coverage import coverage
from revis.selection.csod import CSOD
from revis.selection.pool import SelectionPool
from revis.selection.registry import SELECTORS, Selector, build_selector
from revis.selection.submodular import FacilityLocation, KCenter

__all__ = [
    "CSOD",
    "SELECTORS",
    "ClassBalancedRandom",
    "FacilityLocation",
    "KCenter",
    "RandomImages",
    "SelectionPool",
    "Selector",
    "build_selector",
    "coverage",
]
