"""Label-agnostic coreset baselines on one vector per image: facility location and k-center.

Both use the image vector of ``SelectionPool.image_vectors`` (the unit mean of the image's
class vectors), so they see the same detector features as CSOD but no class structure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from revis.selection.pool import SelectionPool


@dataclass(frozen=True)
class FacilityLocation:
    """Greedy max of f(S) = sum_i max_{s in S} sim(i, s), sim = cosine clipped at 0 (f needs sim >= 0).

    Builds the n x n similarity once (n = 16.5k VOC images: ~1.1 GB in float32).
    """

    name = "facility_location"

    def select(self, pool: SelectionPool, budget: int, seed: int = 0) -> np.ndarray:  # deterministic: seed unused
        vectors = pool.image_vectors()
        sim = (vectors @ vectors.T).clamp_(min=0)
        best = torch.zeros(pool.n_images)  # max similarity of each image to the selected set
        taken = torch.zeros(pool.n_images, dtype=torch.bool)
        picks = []
        for _ in range(min(budget, pool.n_images)):
            gains = (sim - best).clamp_(min=0).sum(1).masked_fill_(taken, -torch.inf)  # column j: gain of adding j
            j = int(torch.argmax(gains))
            picks.append(j)
            taken[j] = True
            best = torch.maximum(best, sim[j])
        return np.asarray(picks, dtype=np.int64)


@dataclass(frozen=True)
class KCenter:
    """Greedy k-center (Sener & Savarese): repeatedly the image farthest from its nearest centre.

    The first centre is drawn at random (``seed``); distance is Euclidean between unit vectors.
    """

    name = "k_center"

    def select(self, pool: SelectionPool, budget: int, seed: int = 0) -> np.ndarray:
        vectors = pool.image_vectors()
        rng = np.random.default_rng(seed)
        first = int(rng.integers(pool.n_images))
        nearest = torch.full((pool.n_images,), torch.inf)
        picks = [first]
        for _ in range(min(budget, pool.n_images) - 1):
            nearest = torch.minimum(nearest, (vectors - vectors[picks[-1]]).norm(dim=1))
            nearest[picks[-1]] = -1.0  # never again
            picks.append(int(torch.argmax(nearest)))
        return np.asarray(picks, dtype=np.int64)
