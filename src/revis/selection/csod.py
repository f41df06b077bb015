"""CSOD: class-wise round-robin greedy selection of images (Lee et al., arXiv 2404.09161).

In class c's turn, among unselected images containing c, pick

    i* = argmax_i  sum_{k in P_c \\ S} sim(p_ic, p_kc)  -  lambda * sum_{s in S_c} sim(p_ic, p_sc)

(representativeness minus lambda times diversity: the marginal gain of a graph cut on class
c's images). ``sim`` is cosine, so both sums are dot products of p_ic with *sums* of unit
vectors; keeping those two running sums per class makes one turn a single (n_c x d)
matrix-vector product -- no n x n similarity matrix is ever built.

What the paper leaves open, as parameters:
- ``reduction``: ``"sum"`` (the formula as printed) or ``"mean"`` (each term divided by its
  set size, so lambda weighs two averages and does not drift as S grows);
- ``multi_class``: ``"shared"`` -- an image picked in any class's turn counts as selected for
  every class it contains (S_c = S n P_c, the formula as printed); ``"per_class"`` -- it
  enters S_c only for the class whose turn picked it (its other classes still count it as
  unselected in their representativeness sums);
- ``class_order``: the turn order, ``"index"`` (class list order) or ``"rarest_first"``
  (fewest images first, which matters only when the budget is not a multiple of the
  number of classes).
A class without candidates is skipped; selection stops at the budget or when no class has
candidates left. ``features="image"`` is the ablation of the paper's per-class vectors: every
(image, class) row carries the image's one image-level vector (the unit mean of its class
vectors, ``SelectionPool.image_vectors``) -- the same round-robin over classes, but an image
looks the same in every class's turn (method ``csod_image``). With one class, CSOD(lambda) is the greedy graph cut with apricot's
``alpha = 2 / (1 + lambda)`` (tested).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from revis.selection.pool import SelectionPool

Reduction = Literal["sum", "mean"]
Features = Literal["class", "image"]
MultiClass = Literal["shared", "per_class"]
ClassOrder = Literal["index", "rarest_first"]


def class_turns(pool: SelectionPool, order: ClassOrder) -> list[int]:
    """Classes in turn order (classes without images are left out)."""
    images_per_class = np.bincount(pool.class_index, minlength=pool.n_classes)
    classes = [c for c in range(pool.n_classes) if images_per_class[c] > 0]
    if order == "rarest_first":
        classes.sort(key=lambda c: (images_per_class[c], c))
    return classes


@dataclass(frozen=True)
class CSOD:
    """CSOD's greedy; ``select`` returns image indices in the order they were picked."""

    lam: float = 1.0
    reduction: Reduction = "sum"
    multi_class: MultiClass = "shared"
    class_order: ClassOrder = "index"
    features: Features = "class"

    name = "csod"

    def select(self, pool: SelectionPool, budget: int, seed: int = 0) -> np.ndarray:  # deterministic: seed unused
        if self.features == "image":  # the ablation: one image-level vector per image, in every class's rows
            unit = pool.image_vectors()[torch.as_tensor(pool.image_index)]
        else:
            unit = pool.unit_vectors()
        rows_of = [np.flatnonzero(pool.class_index == c) for c in range(pool.n_classes)]
        vectors_of = [unit[rows] for rows in rows_of]  # p_{i,c} of class c's images, one matrix per class
        candidate_of = [torch.ones(len(rows), dtype=torch.bool) for rows in rows_of]
        position = np.zeros(len(unit), dtype=np.int64)  # row -> its position within its class's matrix
        for rows in rows_of:
            position[rows] = np.arange(len(rows))
        unselected_sum = torch.stack([v.sum(0) for v in vectors_of]) if len(unit) else torch.zeros(0)
        selected_sum = torch.zeros_like(unselected_sum)
        n_unselected = np.array([len(r) for r in rows_of], dtype=np.float64)
        n_selected = np.zeros(pool.n_classes)
        order = np.argsort(pool.image_index, kind="stable")
        starts = np.searchsorted(pool.image_index[order], np.arange(pool.n_images + 1))
        picks: list[int] = []
        turns = class_turns(pool, self.class_order)
        while len(picks) < budget:
            progressed = False
            for c in turns:
                if len(picks) >= budget:
                    break
                if not bool(candidate_of[c].any()):
                    continue  # class exhausted: skip its turn
                vectors = vectors_of[c]
                representative = vectors @ unselected_sum[c]
                diverse = vectors @ selected_sum[c]
                if self.reduction == "mean":
                    representative = representative / max(n_unselected[c], 1.0)
                    diverse = diverse / max(n_selected[c], 1.0)
                gain = (representative - self.lam * diverse).masked_fill_(~candidate_of[c], -torch.inf)
                row = int(rows_of[c][int(torch.argmax(gain))])  # ties: the lowest index
                image = int(pool.image_index[row])
                picks.append(image)
                image_rows = order[starts[image] : starts[image + 1]]
                for r in image_rows:  # the image is no candidate for any of its classes now
                    candidate_of[int(pool.class_index[r])][position[r]] = False
                # which classes count it as selected: all of its classes, or only the one whose turn it was
                for r in image_rows if self.multi_class == "shared" else [row]:
                    k = int(pool.class_index[r])
                    unselected_sum[k] -= unit[r]
                    selected_sum[k] += unit[r]
                    n_unselected[k] -= 1
                    n_selected[k] += 1
                progressed = True
            if not progressed:
                break
        return np.asarray(picks, dtype=np.int64)


@dataclass(frozen=True)
class CSODImageLevel(CSOD):
    """CSOD on image-level vectors instead of per-class ones (the ablation arm ``csod_image``)."""

    features: Features = "image"

    name = "csod_image"
