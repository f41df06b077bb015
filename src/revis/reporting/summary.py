"""Summaries that every paper's metrics.json uses: samples over seeds, proportions, flat views.

``mean_std`` keeps the per-seed values (and the seeds) beside the mean, so the scoreboard can
test a claim (``revis.reporting.verdicts``) instead of comparing two means.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def mean_std(values: Sequence[float], seeds: Sequence[int] | None = None) -> dict[str, Any]:
    """Mean, sample standard deviation (ddof = 1; None for a single value), n, and the values themselves.

    ``seeds`` (same length) records which seed gave each value, so paired tests can check that
    two samples pair up.
    """
    array = np.asarray(values, dtype=float)
    if array.size == 0:
        raise ValueError("mean_std of an empty sample")
    if seeds is not None and len(seeds) != array.size:
        raise ValueError(f"{len(seeds)} seeds for {array.size} values")
    summary: dict[str, Any] = {
        "mean": float(array.mean()),
        "std": float(array.std(ddof=1)) if array.size > 1 else None,
        "n": int(array.size),
        "values": [float(v) for v in array],
    }
    if seeds is not None:
        summary["seeds"] = [int(s) for s in seeds]
    return summary


def proportion(successes: int, trials: int) -> dict[str, Any]:
    """A count of successes out of trials, with its Wilson 95 % interval."""
    from revis.reporting.verdicts import wilson

    if not 0 <= successes <= trials:
        raise ValueError(f"proportion needs 0 <= successes <= trials, got {successes}/{trials}")
    low, high = wilson(successes, trials)
    return {
        "rate": successes / trials if trials else None,
        "successes": int(successes),
        "trials": int(trials),
        "ci95": [low, high],
    }


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists (and empty mappings) stay values."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def flat_numbers(tree: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Dotted name -> float for every finite numeric leaf (bools count; strings, lists do not)."""
    numeric = (bool, int, float, np.bool_, np.integer, np.floating)
    return {
        name: float(value)
        for name, value in flatten(tree, prefix).items()
        if isinstance(value, numeric) and math.isfinite(float(value))
    }


def mean_std_by_seed(by_seed: Mapping[int, float]) -> dict[str, Any]:
    """:func:`mean_std` of ``{seed: value}`` in seed order (the per-seed values paired tests read)."""
    seeds = sorted(by_seed)
    return mean_std([by_seed[s] for s in seeds], seeds)


def majority_class_rate(labels: Any, num_classes: int) -> float:
    """Accuracy of always predicting the most frequent class of ``labels`` (chance for this label
    distribution); counted in integers, divided in float64."""
    counts = np.bincount(np.asarray(labels).reshape(-1), minlength=num_classes)
    return float(counts.max() / counts.sum())
