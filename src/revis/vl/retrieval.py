"""Zero-shot retrieval metrics: recall@k with ties counted against the model.

Frame -> text: every held-out frame queries a gallery of texts, one per distinct content
(background + event, or an empty background) among the held-out frames; the frame's own
content is its one positive. ``rank`` is the number of negatives scoring at least as high as
the positive (ties are resolved pessimistically, so a constant model scores chance, not 100 %).
Chance for recall@k with one positive among G texts is k / G.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def positive_ranks(similarity: torch.Tensor | np.ndarray, positive: torch.Tensor | np.ndarray) -> np.ndarray:
    """(Q,) rank of the best-scoring positive of each query: negatives scoring >= it (0 = first)."""
    sim = torch.as_tensor(similarity, dtype=torch.float64)
    pos = torch.as_tensor(positive, dtype=torch.bool)
    if sim.shape != pos.shape:
        raise ValueError(f"similarity {tuple(sim.shape)} and positive {tuple(pos.shape)} differ")
    if not bool(pos.any(1).all()):
        raise ValueError("every query needs at least one positive")
    best = sim.masked_fill(~pos, float("-inf")).max(1, keepdim=True).values
    return ((sim >= best) & ~pos).sum(1).numpy()


def recall_at_k(
    similarity: torch.Tensor | np.ndarray, positive: torch.Tensor | np.ndarray, ks: Sequence[int]
) -> dict[int, float]:
    """Share of queries whose best positive ranks within the top k."""
    ranks = positive_ranks(similarity, positive)
    return {int(k): float(np.mean(ranks < k)) for k in ks}


def frame_text_retrieval(
    frame_z: torch.Tensor,
    frame_keys: Sequence[str],
    texts_by_key: dict[str, str],
    text_z: torch.Tensor,
    ks: Sequence[int] = (1, 5),
) -> dict[str, float]:
    """R@k of frames retrieving their content's text among ``texts_by_key`` (``text_z`` in the dict's order)."""
    gallery = list(texts_by_key)
    column = {key: j for j, key in enumerate(gallery)}
    positive = torch.zeros(len(frame_keys), len(gallery), dtype=torch.bool)
    positive[torch.arange(len(frame_keys)), torch.as_tensor([column[k] for k in frame_keys])] = True
    recalls = recall_at_k(frame_z @ text_z.T, positive, ks)
    out = {f"r{k}": v for k, v in recalls.items()}
    out.update({f"chance_r{k}": min(1.0, k / len(gallery)) for k in ks})
    out["gallery"] = len(gallery)
    out["queries"] = len(frame_keys)
    return out
