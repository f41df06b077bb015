"""MERLIN's query update: spherical linear interpolation of the running query and the embedded answer.

    e_t = sin((1 - t) theta) / sin theta * e_{t-1} + sin(t theta) / sin theta * a_t,   cos theta = e_{t-1} . a_t

``t`` is the share of the angle travelled towards the answer. MERLIN's public code
(``merlin/reranker.py``) calls ``slerp(history, answer, alpha=0.8)`` with the answer's weight
``sin(alpha theta) / sin theta``: alpha weights the *new answer* (``convention="answer"``, t = alpha).
The project page reads alpha = 0.8 as a bias towards the *earlier* embeddings
(``convention="history"``, t = 1 - alpha). Both are exposed; the pipeline reports both.

Deviations from the public code, on purpose: inputs are L2-normalised and so is the output
(the code combines the raw vectors with unit-vector weights); theta -> 0 falls back to a
normalised linear interpolation instead of returning the history unchanged; near-opposite
vectors (theta -> pi, where the great circle is undefined) rotate the history by t * pi
towards a fixed direction orthogonal to it, instead of dividing by ~0.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Convention = Literal["answer", "history"]
EPS = 1e-6


def answer_share(alpha: float, convention: Convention) -> float:
    """The interpolation parameter t (share towards the answer) for ``alpha`` under ``convention``."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    if convention == "answer":
        return float(alpha)
    if convention == "history":
        return 1.0 - float(alpha)
    raise ValueError(f"convention must be 'answer' or 'history', got {convention!r}")


def _normalise(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    if np.any(norm < EPS):
        raise ValueError("slerp needs non-zero vectors")
    return x / norm


def _orthogonal(a: np.ndarray) -> np.ndarray:
    """(N, D) unit vectors orthogonal to the rows of ``a``: the axis where |a| is smallest, Gram-Schmidt."""
    basis = np.zeros_like(a)
    basis[np.arange(len(a)), np.argmin(np.abs(a), axis=1)] = 1.0
    p = basis - np.sum(basis * a, axis=1, keepdims=True) * a
    return p / np.linalg.norm(p, axis=1, keepdims=True)


def slerp(history: np.ndarray, answer: np.ndarray, alpha: float = 0.8, convention: Convention = "answer") -> np.ndarray:
    """Unit vectors between ``history`` and ``answer`` ((D,) or (N, D) rows), never NaN."""
    t = answer_share(alpha, convention)
    single = np.ndim(history) == 1
    a = _normalise(np.atleast_2d(np.asarray(history, dtype=np.float64)))
    b = _normalise(np.atleast_2d(np.asarray(answer, dtype=np.float64)))
    if a.shape != b.shape:
        raise ValueError(f"history {a.shape} and answer {b.shape} differ")
    dot = np.clip(np.sum(a * b, axis=1), -1.0, 1.0)
    theta = np.arccos(dot)
    sin = np.sin(theta)
    out = np.empty_like(a)
    regular = sin > 1e-4
    if regular.any():
        th, s = theta[regular, None], sin[regular, None]
        out[regular] = np.sin((1 - t) * th) / s * a[regular] + np.sin(t * th) / s * b[regular]
    close = ~regular & (dot > 0)  # theta ~ 0: slerp -> lerp
    if close.any():
        out[close] = (1 - t) * a[close] + t * b[close]
    opposite = ~regular & (dot <= 0)  # theta ~ pi: rotate by t * pi along a fixed orthogonal direction
    if opposite.any():
        p = _orthogonal(a[opposite])
        out[opposite] = np.cos(t * np.pi) * a[opposite] + np.sin(t * np.pi) * p
    out = out / np.linalg.norm(out, axis=1, keepdims=True)
    return out[0] if single else out
