"""A divergence guard for the syntheses (DM, DM + Deep-KKT, DSV): a run whose loss ends above its start
is rerun at a lower step size; one that still rises is returned marked ``diverged``, never silently.

"Start" and "end" are the means over the first and last tenth of the iterations (at least one):
DM draws a fresh network every iteration, so single values are noisy. Torch-free.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def loss_rose(losses: Sequence[float], share: float = 0.1) -> tuple[bool, float, float]:
    """(end > start, start, end): the means of the first and last ``share`` of ``losses``.

    A non-finite end counts as a rise.
    """
    if not losses:
        raise ValueError("loss_rose needs at least one loss value")
    window = max(1, int(len(losses) * share))
    start = sum(losses[:window]) / window
    end = sum(losses[-window:]) / window
    finite = end == end and abs(end) != float("inf")
    return (not finite) or end > start, start, end


def run_guarded(
    run: Callable[[float], dict[str, Any]],
    lr: float,
    losses: Callable[[dict[str, Any]], Sequence[float]],
    *,
    restarts: int = 2,
    factor: float = 0.3,
) -> dict[str, Any]:
    """``run(lr)``; while its ``losses(result)`` end above their start, rerun at ``lr · factor`` (``restarts`` times).

    Returns the last result with ``result["guard"] = {lr, restarts, diverged, loss_start, loss_end}``:
    ``diverged`` is true when even the last attempt's loss rose.
    """
    if not 0 < factor < 1:
        raise ValueError(f"the restart factor must be in (0, 1), got {factor}")
    attempt = 0
    while True:
        result = run(lr)
        rose, start, end = loss_rose(list(losses(result)))
        if not rose or attempt == restarts:
            result["guard"] = {
                "lr": lr,
                "restarts": attempt,
                "diverged": rose,
                "loss_start": start,
                "loss_end": end,
            }
            return result
        attempt += 1
        lr *= factor
