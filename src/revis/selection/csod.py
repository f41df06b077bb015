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
        sums = _ClassSums(pool, unit)
        picks: list[int] = []
        turns = class_turns(pool, self.class_order)
        while len(picks) < budget:
            progressed = False
            for c in turns:
                if len(picks) >= budget:
                    break
                if not bool(sums.candidate_of[c].any()):
                    continue  # class exhausted: skip its turn
                gain = sums.gain(c, self.lam, self.reduction)
                row = int(sums.rows_of[c][int(torch.argmax(gain))])  # ties: the lowest index
                picks.append(sums.take(row, self.multi_class == "shared"))
                progressed = True
            if not progressed:
                break
        return np.asarray(picks, dtype=np.int64)


class _ClassSums:
    """CSOD's running state: per class, its rows' vectors, the sums over its unselected and selected rows."""

    def __init__(self, pool: SelectionPool, unit: torch.Tensor) -> None:
        self.pool, self.unit = pool, unit
        self.rows_of = [np.flatnonzero(pool.class_index == c) for c in range(pool.n_classes)]
        self.vectors_of = [unit[rows] for rows in self.rows_of]  # p_{i,c} of class c's images, one matrix per class
        self.candidate_of = [torch.ones(len(rows), dtype=torch.bool) for rows in self.rows_of]
        self.position = np.zeros(len(unit), dtype=np.int64)  # row -> its position within its class's matrix
        for rows in self.rows_of:
            self.position[rows] = np.arange(len(rows))
        self.unselected_sum = torch.stack([v.sum(0) for v in self.vectors_of]) if len(unit) else torch.zeros(0)
        self.selected_sum = torch.zeros_like(self.unselected_sum)
        self.n_unselected = np.array([len(r) for r in self.rows_of], dtype=np.float64)
        self.n_selected = np.zeros(pool.n_classes)
        self.order = np.argsort(pool.image_index, kind="stable")
        self.starts = np.searchsorted(pool.image_index[self.order], np.arange(pool.n_images + 1))

    def gain(self, c: int, lam: float, reduction: Reduction) -> torch.Tensor:
        """The objective's gain of each of class c's rows (-inf for rows that are no candidates)."""
        vectors = self.vectors_of[c]
        representative = vectors @ self.unselected_sum[c]
        diverse = vectors @ self.selected_sum[c]
        if reduction == "mean":
            representative = representative / max(self.n_unselected[c], 1.0)
            diverse = diverse / max(self.n_selected[c], 1.0)
        return (representative - lam * diverse).masked_fill_(~self.candidate_of[c], -torch.inf)

    def take(self, row: int, shared: bool) -> int:
        """Select the image of ``row``; returns the image's index."""
        pool, unit = self.pool, self.unit
        image = int(pool.image_index[row])
        image_rows = self.order[self.starts[image] : self.starts[image + 1]]
        for r in image_rows:  # the image is no candidate for any of its classes now
            self.candidate_of[int(pool.class_index[r])][self.position[r]] = False
        # which classes count it as selected: all of its classes, or only the one whose turn it was
        for r in image_rows if shared else [row]:
            k = int(pool.class_index[r])
            self.unselected_sum[k] -= unit[r]
            self.selected_sum[k] += unit[r]
            self.n_unselected[k] -= 1
            self.n_selected[k] += 1
        return image


@dataclass(frozen=True)
class CSODImageLevel(CSOD):
    """CSOD on image-level vectors instead of per-class ones (the ablation arm ``csod_image``)."""

    features: Features = "image"

    name = "csod_image"
