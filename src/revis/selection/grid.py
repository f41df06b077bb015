"""The selection grid of an experiment: every (method, budget, seed), plus CSOD's lambda sweep."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from revis.selection.coverage import coverage
from revis.selection.csod import ClassOrder, MultiClass, Reduction
from revis.selection.pool import SelectionPool
from revis.selection.registry import build_selector


def lam_label(value: float) -> str:
    """``0 -> 'lam0'``, ``0.5 -> 'lam0p5'``: a lambda as a metric key without dots."""
    text = f"{value:g}".replace(".", "p").replace("-", "m")
    return f"lam{text}"


@dataclass(frozen=True)
class CsodSettings:
    """CSOD's settings shared by the ``csod`` and ``csod_image`` arms and the lambda sweep (``revis.selection.csod``)."""

    lam: float = 1.0
    reduction: Reduction = "sum"
    multi_class: MultiClass = "shared"
    class_order: ClassOrder = "index"

    def params(self, lam: float | None = None) -> dict[str, Any]:
        """The selector's keyword arguments (what subsets.json records), with another ``lam`` for the sweep."""
        return {
            "lam": self.lam if lam is None else lam,
            "reduction": self.reduction,
            "multi_class": self.multi_class,
            "class_order": self.class_order,
        }


@dataclass(frozen=True)
class SubsetSpec:
    label: str  # what the results table calls it: the method, or csod_lam<value> in the sweep
    method: str
    budget: int
    seed: int
    params: dict[str, Any] = field(default_factory=dict)


def selection_grid(
    methods: Sequence[str],
    budgets: Sequence[int],
    seeds: Sequence[int],
    csod: CsodSettings,
    sweep_values: Sequence[float] = (),
    sweep_budgets: Sequence[int] = (),
    smallest_budget_only: Sequence[str] = (),
) -> list[SubsetSpec]:
    """Every (method, budget, seed) -- ``smallest_budget_only`` methods at the smallest budget only -- then the
    sweep of CSOD's lambda (``csod_lam<value>`` labels) at ``sweep_budgets``."""
    specs = []
    for method in methods:
        for budget in budgets:
            if method in smallest_budget_only and budget != min(budgets):
                continue
            for seed in seeds:
                params = csod.params() if method in ("csod", "csod_image") else {}  # the ablation: CSOD's settings
                specs.append(SubsetSpec(method, method, budget, seed, params))
    for value in sweep_values:
        for budget in sweep_budgets:
            for seed in seeds:
                params = csod.params(lam=float(value))
                specs.append(SubsetSpec(f"csod_{lam_label(value)}", "csod", budget, seed, params))
    return specs


def run_selection(
    pools: SelectionPool | Mapping[int, SelectionPool], specs: Sequence[SubsetSpec]
) -> list[dict[str, Any]]:
    """Each spec's selected image ids (in pick order), coverage and selection time.

    ``pools``: one pool for every seed, or one per seed (seed s selects on its own feature detector's vectors).
    """
    out = []
    for spec in tqdm(specs, desc="selection", leave=False):
        pool = pools[spec.seed] if isinstance(pools, Mapping) else pools
        selector = build_selector(spec.method, **spec.params)
        start = time.perf_counter()
        picks = selector.select(pool, spec.budget, spec.seed)
        seconds = time.perf_counter() - start
        out.append(
            {
                "label": spec.label,
                "method": spec.method,
                "budget": spec.budget,
                "seed": spec.seed,
                "params": dict(spec.params),
                "image_ids": [pool.image_ids[i] for i in picks],
                "coverage": coverage(pool, picks),
                "seconds": seconds,
            }
        )
    return out
