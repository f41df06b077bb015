"""``csod-select``: every method x budget x seed, plus CSOD's lambda sweep, on each seed's own vectors."""

from __future__ import annotations

from typing import Any

from revis.curves import curve_key, log_curve
from revis.pipelines.csod.params import SelectParams
from revis.selection.grid import CsodSettings, run_selection, selection_grid
from revis.selection.pool import SelectionPool
from revis.selection.results import group


def select_subsets(representatives: dict[int, Any], seeds: list[int], select: SelectParams) -> list[dict[str, Any]]:
    """Image ids picked per (label, budget, seed), with coverage; selection times go to MLflow, not metrics."""
    pools = {int(seed): SelectionPool.from_dict(pool) for seed, pool in representatives.items()}
    specs = selection_grid(
        select.methods,
        select.budgets,
        seeds,
        CsodSettings(select.csod.lam, select.csod.reduction, select.csod.multi_class, select.csod.class_order),
        select.lambda_sweep.values,
        select.lambda_sweep.budgets,
        select.smallest_budget_only,
    )
    subsets = run_selection(pools, specs)
    for (label, budget), rows in group(subsets, "label", "budget").items():
        log_curve(
            {"seconds": sum(r["seconds"] for r in rows) / len(rows)}, int(budget), curve_key(f"select_{label}", None)
        )
    # a wall time in a DVC output changes its md5 on every run and reruns everything downstream: MLflow only
    return [{key: value for key, value in row.items() if key != "seconds"} for row in subsets]
