"""Training histories as tables: the per-epoch mean of one metric over the runs of each series."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any


def mean_curves(
    histories: Mapping[str, Mapping[str, Sequence[float]]], metric: str, x: str = "epoch"
) -> list[dict[str, Any]]:
    """Rows ``{x: 1, <series>: mean over its runs, ...}`` for runs keyed ``"<series>/<run>"`` (e.g. ``shapes/seed0``).

    A series' value at an epoch averages the runs that reached it; epochs count from 1.
    """
    by_series: dict[str, list[Sequence[float]]] = defaultdict(list)
    for key, history in histories.items():
        by_series[key.split("/", 1)[0]].append(history[metric])
    epochs = max((len(values) for runs in by_series.values() for values in runs), default=0)
    rows: list[dict[str, Any]] = []
    for epoch in range(epochs):
        row: dict[str, Any] = {x: epoch + 1}
        for series, runs in sorted(by_series.items()):
            reached = [float(values[epoch]) for values in runs if len(values) > epoch]
            row[series] = sum(reached) / len(reached) if reached else None
        rows.append(row)
    return rows
