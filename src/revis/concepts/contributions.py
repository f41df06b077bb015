"""Do a class's top-contributing concepts match the concepts that define the class?

Contributions come from ``BiICEOutput.contributions`` (N, C, K); what is ranked is each image's
slice for its own class, (N, K), with concepts in ground-truth order (for an unsupervised model,
after mapping slots to concepts). For class c the mean contribution of each concept to the
logit of c over the images of class c ranks the concepts; precision@k is the share of the top
k that are among the class's rule concepts, with k the rule's size.
"""

from __future__ import annotations

import numpy as np


def own_class(contributions: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(N, C, K) -> (N, K): each image's contributions to the logit of its own class."""
    return contributions[np.arange(len(labels)), labels]


def class_concept_scores(own: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, K): mean contribution of each concept to the logit of class c over images of class c,
    from ``own`` (N, K) = ``own_class(contributions, labels)``."""
    scores = np.full((num_classes, own.shape[1]), np.nan)
    for c in range(num_classes):
        members = labels == c
        if members.any():
            scores[c] = own[members].mean(0)
    return scores


def precision_at_k(scores: np.ndarray, rules: list[list[int]]) -> np.ndarray:
    """(C,): |top-k of scores[c] & rules[c]| / k with k = len(rules[c]); NaN for classes without a rule."""
    out = np.full(len(rules), np.nan)
    for c, rule in enumerate(rules):
        if rule and np.isfinite(scores[c]).all():
            top = np.argsort(-scores[c], kind="stable")[: len(rule)]
            out[c] = len(set(top.tolist()) & set(rule)) / len(rule)
    return out


def chance_precision(rules: list[list[int]], num_concepts: int) -> float:
    """Expected precision@k of a random ranking: mean over classes of |rule| / K."""
    return float(np.mean([len(rule) / num_concepts for rule in rules if rule]))


def derive_rules(presence: np.ndarray, labels: np.ndarray, num_classes: int, min_frequency: float) -> list[list[int]]:
    """Class -> concepts present in at least ``min_frequency`` of its training images.

    For datasets without explicit rules: CIFAR-100 superclasses get their five fine classes
    (each ~20 %), CUB classes the attributes most of their birds show.
    """
    rules = []
    for c in range(num_classes):
        members = presence[labels == c]
        rules.append([] if len(members) == 0 else np.flatnonzero(members.mean(0) >= min_frequency).tolist())
    return rules
