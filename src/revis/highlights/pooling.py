"""HL-CLIP's saliency pooling: each clip's score becomes the mean of the scores in [j - w, j + w].

At the ends of a video the window is cut to the clips that exist (the mean of fewer scores),
so a constant score sequence stays constant and ``w = 0`` returns the scores unchanged.
"""

from __future__ import annotations

import numpy as np


def pool_scores(scores: np.ndarray, w: int) -> np.ndarray:
    """Window mean over ``[j - w, j + w]`` clipped to the video, for one video's (T,) scores."""
    scores = np.asarray(scores, dtype=float)
    if w < 0:
        raise ValueError(f"pooling window w must be >= 0, got {w}")
    if w == 0 or scores.size == 0:
        return scores.copy()
    sums = np.concatenate([[0.0], np.cumsum(scores)])
    index = np.arange(scores.size)
    low = np.clip(index - w, 0, scores.size)
    high = np.clip(index + w + 1, 0, scores.size)
    return (sums[high] - sums[low]) / (high - low)
