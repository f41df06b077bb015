"""Baselines that look at labels only: uniform random and class-balanced random images."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from revis.selection.csod import ClassOrder, class_turns
from revis.selection.pool import SelectionPool


@dataclass(frozen=True)
class RandomImages:
    """``budget`` images uniformly at random (objects or not)."""

    name = "random"

    def select(self, pool: SelectionPool, budget: int, seed: int = 0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return rng.choice(pool.n_images, size=min(budget, pool.n_images), replace=False).astype(np.int64)


@dataclass(frozen=True)
class ClassBalancedRandom:
    """CSOD's round-robin over classes, but each turn takes a random unselected image of the class."""

    class_order: ClassOrder = "index"

    name = "balanced_random"

    def select(self, pool: SelectionPool, budget: int, seed: int = 0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        images_of = [np.unique(pool.image_index[pool.class_index == c]) for c in range(pool.n_classes)]
        taken = np.zeros(pool.n_images, dtype=bool)
        picks: list[int] = []
        turns = class_turns(pool, self.class_order)
        while len(picks) < budget:
            progressed = False
            for c in turns:
                if len(picks) >= budget:
                    break
                candidates = images_of[c][~taken[images_of[c]]]
                if len(candidates) == 0:
                    continue
                image = int(rng.choice(candidates))
                taken[image] = True
                picks.append(image)
                progressed = True
            if not progressed:
                break
        return np.asarray(picks, dtype=np.int64)
