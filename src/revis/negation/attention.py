"""Where the UNet reads a negated object's tokens: cross-attention shares and their overlap with the drawn object.

``maps``: (B, L, H, W) cross-attention probabilities (head-, layer- and step-averaged, from
``revis.diffusion.attention.CrossAttentionStore.maps``); at every pixel they sum to 1 over the
L tokens.
"""

from __future__ import annotations

import numpy as np
import torch


def phrase_positions(input_ids: list[int], phrase_ids: list[int]) -> list[int]:
    """Token positions of the last occurrence of ``phrase_ids`` in ``input_ids`` (empty when absent)."""
    for start in range(len(input_ids) - len(phrase_ids), -1, -1):
        if input_ids[start : start + len(phrase_ids)] == phrase_ids:
            return list(range(start, start + len(phrase_ids)))
    return []


def attention_share(maps: torch.Tensor, positions: list[int]) -> np.ndarray:
    """(B,): the share of all cross-attention (over pixels) that goes to the tokens at ``positions``."""
    if not positions:
        return np.zeros(maps.shape[0])
    return (maps[:, positions].sum(1).mean((1, 2))).numpy()


def attention_on_mask(maps: torch.Tensor, positions: list[int], masks: np.ndarray) -> np.ndarray:
    """(B,) for images with a non-empty mask (NaN otherwise): the tokens' mean attention inside the mask
    divided by their mean attention over the whole image (> 1: read where the object is drawn)."""
    if not positions:
        return np.full(maps.shape[0], np.nan)
    attention = maps[:, positions].sum(1).numpy()  # (B, H, W)
    out = np.full(len(attention), np.nan)
    for i, (a, m) in enumerate(zip(attention, masks)):
        if m.any() and a.mean() > 0:
            out[i] = float(a[m].mean() / a.mean())
    return out
