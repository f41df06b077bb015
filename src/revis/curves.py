"""Step-by-step curves (losses, accuracies, objectives) for the experiment tracker.

Library code calls ``log_curve({"teacher.loss": 0.31}, step=12)`` inside its loops; the
tracking hook installs a sink for the duration of a stage (MLflow metrics with ``step``), so
the library never imports MLflow. Without a sink (tests, notebooks) the call does nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from revis.workers import check_stop

Sink = Callable[[dict[str, float], int], None]
_sink: Sink | None = None


def set_sink(sink: Sink | None) -> Sink | None:
    """Install ``sink`` (or remove it with ``None``); returns the previous one."""
    global _sink
    previous, _sink = _sink, sink
    return previous


def log_curve(values: Mapping[str, float], step: int) -> None:
    """Record one point of each named curve at ``step`` (non-finite values are dropped).

    Between steps, also where a stopped stage's job thread ends (``revis.workers.check_stop``).
    """
    check_stop()
    if _sink is None:
        return
    finite = {name: float(v) for name, v in values.items() if v is not None and math.isfinite(float(v))}
    if finite:
        _sink(finite, int(step))
