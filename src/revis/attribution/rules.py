"""Dataset-wide concept pathways read against the world's concept-to-class rules.

The paper's abstract promises a "whole pathway" per class: concepts of the last block linked to
the class by GIG, concepts of each earlier block linked to those by the inter-layer GIG, and so on
back to the first block. The shapes world knows the answer — each class is defined by two
concepts (``red_circle``: red, circle) and every concept has a pixel mask — so a pathway can be
scored: label every concept vector of a block by where its Lasso coefficients fall (the share of
its coefficient mass inside each ground-truth concept's mask, ``mask_association``), weight the
labels by the pathway's concept weights and ask whether the two world concepts most
over-represented in class c's pathway (lift over the block's coefficient mass as a whole) are
c's two defining concepts (precision@k).

The baseline is the random pathway: per class and block, the same weights shuffled among the
concepts present in the class's images (``random_pathway_precision``), so that it draws from the
same concepts and differs from GIG only in which of them the links select.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


def mask_association(coefficients: torch.Tensor, masks: torch.Tensor) -> np.ndarray:
    """(k, W): for each concept q, the share of its coefficient mass (over images and positions) that lies in
    each world concept w's mask (area fraction of the mask on the layer's grid). ``coefficients`` (N, k, h, w),
    ``masks`` (N, W, H, W') bool. A concept without mass gets zeros."""
    height, width = coefficients.shape[-2:]
    cover = F.adaptive_avg_pool2d(masks.float(), (height, width))  # (N, W, h, w): area fractions
    inside = torch.einsum("nkhw,nchw->kc", coefficients.double().clamp_min(0), cover.double())
    mass = coefficients.double().clamp_min(0).sum((0, 2, 3))[:, None]
    return (inside / mass.clamp_min(1e-12)).numpy()


def class_pathways(
    class_scores: np.ndarray,
    classes: np.ndarray,
    links: Sequence[tuple[np.ndarray, np.ndarray]],
    num_classes: int,
) -> list[np.ndarray]:
    """Per class, the concept weights of every block along its pathway, last block first: ``[(C, k_L), ...,
    (C, k_1)]``.

    ``class_scores`` (N, k_L): GIG of the last block's concepts to each image's (predicted) class, ``classes``
    (N,). ``links`` from the last pair backwards: ``(scores (N, T, k_a), targets (T,))`` of the GIG from block a's
    concepts to the T target concepts of block b. Weights are dataset-wide means over the images of the class,
    negative attributions set to zero; block a's weight is the sum over b's targets of (b's weight x the link).
    A class with no image keeps zero weights.
    """

    def per_class(scores: np.ndarray) -> np.ndarray:  # (N, ...) -> (C, ...) means over each class's images
        out = np.zeros((num_classes, *scores.shape[1:]))
        for c in range(num_classes):
            if (classes == c).any():
                out[c] = scores[classes == c].mean(0)
        return np.clip(out, 0, None)

    weights = [per_class(class_scores)]
    for scores, targets in links:
        edges = per_class(scores)  # (C, T, k_a)
        weights.append(np.einsum("ct,ctk->ck", weights[-1][:, targets], edges))
    return weights


def pathway_precision(
    weights: np.ndarray, association: np.ndarray, base: np.ndarray, rules: Sequence[Sequence[int]], present: np.ndarray
) -> float:
    """Mean over the classes in ``present`` of precision@|rule|: the world concepts with the largest lift
    (weighted association / ``base``) against the class's rule. ``weights`` (C, k), ``association`` (k, W),
    ``base`` (W,): the block's association weighted by every concept's coefficient mass."""
    scores = []
    for c in (int(c) for c in np.flatnonzero(present)):
        total = weights[c].sum()
        if total <= 0:
            scores.append(0.0)
            continue
        lift = (weights[c] @ association) / total / np.clip(base, 1e-12, None)
        scores.append(top_k_precision(lift, rules[c]))
    return float(np.mean(scores)) if scores else float("nan")


def top_k_precision(scores: np.ndarray, rule: Sequence[int]) -> float:
    """Precision of the |rule| highest ``scores`` against ``rule``; ties at the cut are broken at random, in
    expectation (so that a pathway that tells nothing apart scores chance, not the first indices)."""
    k = len(rule)
    cut = np.sort(scores)[::-1][k - 1]
    above, tied = scores > cut, scores == cut
    in_rule = np.isin(np.arange(len(scores)), list(rule))
    hits = in_rule[above].sum() + (k - above.sum()) * in_rule[tied].sum() / tied.sum()
    return float(hits / k)


def random_pathway_precision(
    weights: np.ndarray,
    association: np.ndarray,
    base: np.ndarray,
    rules: Sequence[Sequence[int]],
    present: np.ndarray,
    draws: int,
    seed: int,
    candidates: np.ndarray | None = None,
) -> float:
    """``pathway_precision`` of the same weights given to concepts drawn at random, averaged over ``draws``:
    per class, a seeded permutation of the weights among its ``candidates`` (C, k) bool — the concepts present
    in the class's images, so that the random pathway draws from the same concepts and only the links differ —
    or among all of the block's concepts without them."""
    rng = np.random.default_rng(seed)
    pool = np.ones(weights.shape, dtype=bool) if candidates is None else candidates

    def shuffled() -> np.ndarray:
        out = np.zeros_like(weights)
        for c in range(len(weights)):
            inside = np.flatnonzero(pool[c])
            out[c, inside] = weights[c, rng.permutation(inside)]
            out[c, ~pool[c]] = weights[c, ~pool[c]]  # outside the pool: kept where they are
        return out

    return float(np.mean([pathway_precision(shuffled(), association, base, rules, present) for _ in range(draws)]))


def class_presence(coefficients: torch.Tensor, classes: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, k) bool: the concepts with coefficient mass in at least one image of each class."""
    mass = coefficients.double().clamp_min(0).sum((2, 3)).cpu().numpy()  # (N, k)
    return np.stack([(mass[classes == c] > 0).any(0) for c in range(num_classes)])


def world_rules(
    stated: dict[str, Any], class_names: Sequence[str], concept_names: Sequence[str]
) -> list[list[int]] | None:
    """Class -> indices of its defining concepts from the world's stated rules (``{"classes": {name: [concept,
    ...]}}``, the shapes world's ``world.json``); None when the rules do not name every class."""
    by_class = stated.get("classes", {})
    if not concept_names or any(name not in by_class for name in class_names):
        return None
    return [[list(concept_names).index(c) for c in by_class[name]] for name in class_names]


def chance_precision(rules: Sequence[Sequence[int]], num_concepts: int) -> float:
    """Expected precision@|rule| of a random ranking of the concepts: mean over classes of |rule| / K."""
    return float(np.mean([len(rule) / num_concepts for rule in rules if rule]))
