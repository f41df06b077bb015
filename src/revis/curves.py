"""Step-by-step curves (losses, accuracies, objectives) for the experiment tracker, under one naming scheme.

A curve is named by (paper, arm, seed, quantity)::

    <paper>/<arm>/seed<k>/<quantity>        e.g.  baseline/digits/seed0/loss

Library code knows the arm, the seed and the quantity; the tracking hook knows the paper and
adds it. A loop calls ``log_curve({"loss": 0.31, "accuracy": 0.9}, step, curve=curve_key("digits", 0))``;
the hook installs a sink for the duration of a stage (MLflow metrics with ``step``), so the library
never imports MLflow, and MLflow's chart view shows one section per (paper, arm, seed) with one
chart per quantity. Without a sink (tests, notebooks) the call only checks the names.

``seed`` is ``None`` for an arm trained once whatever the seed (``seed-``): the name keeps four
parts so that every curve reads the same way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence

from revis.workers import check_stop

Sink = Callable[[dict[str, float], int], None]
_sink: Sink | None = None

# MLflow metric names allow letters, digits, `_ - . /` and spaces; `/` separates the scheme's parts.
_PART = re.compile(r"^[A-Za-z0-9_.-]+$")
NO_SEED = "seed-"


def _part(value: object, what: str) -> str:
    text = str(value)
    if not _PART.match(text):
        raise ValueError(f"curve {what} {text!r}: use letters, digits, '_', '-' and '.' (no '/' or spaces)")
    return text


def _clean(value: object) -> str:
    """``value`` with every character MLflow or the scheme would refuse replaced by ``_``."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(value)) or "_"


def curve_key(arm: str, seed: int | str | None) -> str:
    """``<arm>/seed<k>``: the part of a curve's name a training loop is given (``seed-`` without a seed).

    Characters outside ``[A-Za-z0-9_.-]`` in ``arm`` become ``_`` (``"digits/0"`` -> ``"digits_0"``).
    """
    return f"{_clean(arm)}/{NO_SEED if seed is None else f'seed{_clean(seed)}'}"


def curve_name(paper: str, key: str, quantity: str) -> str:
    """``<paper>/<arm>/seed<k>/<quantity>``; ``key`` from ``curve_key``."""
    arm, _, seed = key.partition("/")
    if not seed.startswith("seed") or "/" in seed:
        raise ValueError(f"curve key {key!r}: expected '<arm>/seed<k>' (revis.curves.curve_key)")
    return f"{_part(paper, 'paper')}/{_part(arm, 'arm')}/{_part(seed, 'seed')}/{_part(quantity, 'quantity')}"


def parse_curve_name(name: str) -> tuple[str, str, str | None, str]:
    """(paper, arm, seed or None, quantity) of a full curve name; ValueError for any other name."""
    parts = name.split("/")
    if len(parts) != 4 or not parts[2].startswith("seed") or not all(_PART.match(p) for p in parts):
        raise ValueError(f"{name!r} is not a curve name '<paper>/<arm>/seed<k>/<quantity>'")
    paper, arm, seed, quantity = parts
    return paper, arm, None if seed == NO_SEED else seed[len("seed") :], quantity


def set_sink(sink: Sink | None) -> Sink | None:
    """Install ``sink`` (or remove it with ``None``); returns the previous one.

    The sink receives ``{"<arm>/seed<k>/<quantity>": value}`` and the step; it adds the paper.
    """
    global _sink
    previous, _sink = _sink, sink
    return previous


def log_curve(values: Mapping[str, float], step: int, curve: str) -> None:
    """Record one point of each quantity in ``values`` at ``step`` for ``curve`` (``curve_key(arm, seed)``).

    Non-finite values are dropped; names that break the scheme raise ValueError, also without a sink.
    """
    check_stop()  # between steps a stopped stage's job thread ends here (revis.workers)
    names = {quantity: curve_name("paper", curve, quantity).split("/", 1)[1] for quantity in values}
    if _sink is None:
        return
    finite = {names[q]: float(v) for q, v in values.items() if v is not None and math.isfinite(float(v))}
    if finite:
        _sink(finite, int(step))


def replay(points: Iterable[tuple[dict[str, float], int]]) -> None:
    """Points a job recorded in another process (``revis.workers``), already named, into this process's sink."""
    if _sink is None:
        return
    for values, step in points:
        _sink(values, step)


def log_history(history: Mapping[str, Sequence[float]], curve: str, first_step: int = 0) -> None:
    """Every point of per-step lists (``{"loss": [...], "accuracy": [...]}``) as one curve per quantity.

    For loops that ran in worker processes (``revis.workers``): the sink lives in the stage's process,
    so the stage logs the histories the workers returned. Non-numeric entries are skipped; names are
    checked also without a sink (tests).
    """
    curve_name("paper", curve, "quantity")  # a wrong key fails even for an empty history
    lists = {q: list(v) for q, v in history.items() if isinstance(v, (list, tuple)) and all(_number(x) for x in v)}
    for offset in range(max((len(v) for v in lists.values()), default=0)):
        log_curve({q: float(v[offset]) for q, v in lists.items() if offset < len(v)}, first_step + offset, curve)


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
