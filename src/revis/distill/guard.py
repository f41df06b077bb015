"""A divergence guard for the syntheses (DM, DM + Deep-KKT, DSV): a run whose loss ends above its start
is rerun at a lower step size; one that still rises is returned marked ``diverged``, never silently.

A run can also fail without its loss rising: a DSV synthesis whose multipliers all turn negative
loses every candidate (an empty set, scored as the constant guess) while its loss falls to 0.
``collapsed`` names such a check; a collapse is restarted and reported like a rise.

"Start" and "end" are the means over the first and last tenth of the iterations (at least one):
DM draws a fresh network every iteration, so single values are noisy. Torch-free.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

RESTARTS, FACTOR = 2, 0.3  # a rising run: rerun at 0.3 × its step size, twice at most


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
    losses: Callable[[dict[str, Any]], Sequence[float] | dict[str, Sequence[float]]],
    *,
    restarts: int = RESTARTS,
    factor: float = FACTOR,
    collapsed: Callable[[dict[str, Any]], bool] | None = None,
) -> dict[str, Any]:
    """``run(lr)``; while its ``losses(result)`` end above their start, rerun at ``lr · factor`` (``restarts`` times).

    ``losses`` returns one sequence or several by name (e.g. a total and the part that matters:
    DM + Deep-KKT can lower its total while the KKT term wrecks the DM loss); any rise counts.
    Returns the last result with ``result["guard"] = {lr, restarts, diverged, loss_start,
    loss_end, rose}`` (start and end of the first sequence; ``rose``: the names that rose, and
    ``collapsed`` when ``collapsed(result)`` is true): ``diverged`` is true when even the last
    attempt rose or collapsed.
    """
    if not 0 < factor < 1:
        raise ValueError(f"the restart factor must be in (0, 1), got {factor}")
    attempt = 0
    while True:
        result = run(lr)
        named = losses(result)
        series = named if isinstance(named, dict) else {"loss": named}
        checks = {name: loss_rose(list(values)) for name, values in series.items()}
        risen = [name for name, (up, _, _) in checks.items() if up]
        if collapsed is not None and collapsed(result):
            risen.append("collapsed")
        if not risen or attempt == restarts:
            _, start, end = next(iter(checks.values()))
            result["guard"] = {
                "lr": lr,
                "restarts": attempt,
                "diverged": bool(risen),
                "loss_start": start,
                "loss_end": end,
                "rose": ", ".join(risen),
            }
            return result
        attempt += 1
        lr *= factor


def best_scored(scores: Sequence[tuple[float, float] | None]) -> int | None:
    """The index of the best (accuracy, loss) pair, accuracy first, then the lower loss; ``None`` entries
    (runs excluded as diverged) never win; ``None`` when nothing was scored. Ties keep the first."""
    scored = [(i, score) for i, score in enumerate(scores) if score is not None]
    if not scored:
        return None
    return max(scored, key=lambda pair: (pair[1][0], -pair[1][1]))[0]


@dataclass(frozen=True)
class GuardReport:
    """How many syntheses ran, how many were rerun at a lower step size, and which still diverged (named, never
    silent: ``diverged_runs``, comma-separated)."""

    runs: int
    restarted: int
    diverged: int
    diverged_runs: str
