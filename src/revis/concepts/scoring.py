"""Scores of one Bi-ICE run on the held-out test images, each beside a baseline that could beat it.

- localisation (pointing game, IoU of each concept's map against its mask) against the run's
  *own* maps with the patches shuffled per image: the same mass per concept and image, the same
  distribution over concepts per patch, only the placement is lost;
- faithfulness: patch-deletion drop AUC in concept-attention order against random orders;
- contributions: precision@k of each class's top-contributing concepts against the class rules,
  against ranking the same concepts by attention mass alone (what the contributions add);
- convergence of the binding iterations, trained head against the same seed's untrained head.

Slots of an unsupervised run are mapped to concepts by Hungarian matching on the match split.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from revis.concepts.contributions import class_concept_scores, precision_at_k
from revis.concepts.deletion import drop_auc
from revis.concepts.localisation import (
    diagonal_scores,
    iou_matrix,
    match_slots,
    nanmean_per_concept,
    pointing_matrix,
)
from revis.datasets.imageset import ImageSet


def shuffled_patches(maps: torch.Tensor, seed: int) -> torch.Tensor:
    """(N, L, K) maps with the patches of every image permuted (one permutation per image, all concepts)."""
    generator = torch.Generator().manual_seed(seed)
    order = torch.stack([torch.randperm(maps.shape[1], generator=generator) for _ in range(len(maps))])
    return maps.gather(1, order[:, :, None].expand_as(maps))


def slot_assignment(
    record: dict[str, Any], test: ImageSet, match: torch.Tensor, iou: torch.Tensor | None
) -> np.ndarray:
    """slot_of[k] by Hungarian matching on the match split: mean IoU of slot maps with concept masks, or,
    without masks, how much more mass a slot gets on images that show the concept."""
    if iou is not None:
        score = np.nanmean(iou[match].numpy(), axis=0)
    else:
        if test.concept_presence is None:
            raise ValueError("slots are matched by concept masks or, without masks, by concept presence labels")
        presence = torch.from_numpy(test.concept_presence[match.numpy()]).float()
        mass = record["mass"][match]
        inside = (mass.T @ presence) / presence.sum(0).clamp_min(1)
        outside = (mass.T @ (1 - presence)) / (1 - presence).sum(0).clamp_min(1)
        score = (inside - outside).numpy()
    return match_slots(score)


def _diagonal_means(iou: torch.Tensor, pointing: torch.Tensor, slot_of: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return nanmean_per_concept(diagonal_scores(iou, slot_of)), nanmean_per_concept(diagonal_scores(pointing, slot_of))


def score_run(
    record: dict[str, Any],
    test: ImageSet,
    split: dict[str, torch.Tensor],
    rules: list[list[int]],
    iou_threshold: float,
    random_maps: int,
) -> dict[str, Any]:
    """Every score of one Bi-ICE run (``revis.concepts.runs.attribute_run``'s record) and its baseline."""
    match, held_out = split["match_index"], split["eval_index"]
    names = list(test.concept_names)
    supervised = record["variant"] == "biice_expl"
    masks = None if test.concept_masks is None else torch.from_numpy(test.concept_masks)
    out: dict[str, Any] = {}
    iou = pointing = None
    if masks is not None:
        iou = iou_matrix(record["attention"], masks, record["grid"], iou_threshold)
        pointing = pointing_matrix(record["attention"], masks, record["grid"])
    hungarian = slot_assignment(record, test, match, iou)
    slot_of = np.arange(len(names)) if supervised else hungarian  # supervised: slot k is concept k by training
    out["slot_of"] = slot_of
    out["hungarian_agrees_with_identity"] = float((hungarian == np.arange(len(names))).mean())
    if masks is not None and iou is not None and pointing is not None:  # (iou and pointing exist with masks)
        iou_k, pointing_k = _diagonal_means(iou[held_out], pointing[held_out], slot_of)
        held_maps, held_masks = record["attention"][held_out], masks[held_out]
        shuffled = []
        for draw in range(random_maps):
            maps = shuffled_patches(held_maps, 7919 * record["seed"] + draw)
            shuffled.append(
                _diagonal_means(
                    iou_matrix(maps, held_masks, record["grid"], iou_threshold),
                    pointing_matrix(maps, held_masks, record["grid"]),
                    slot_of,
                )
            )
        out["iou_per_concept"], out["pointing_per_concept"] = iou_k, pointing_k
        out["iou"], out["pointing"] = float(np.nanmean(iou_k)), float(np.nanmean(pointing_k))
        out["iou_shuffled"] = float(np.mean([np.nanmean(s[0]) for s in shuffled]))
        out["pointing_shuffled"] = float(np.mean([np.nanmean(s[1]) for s in shuffled]))
    labels = test.labels[held_out.numpy()]
    own = record["own_contributions"][held_out][:, slot_of].numpy()  # concepts in ground-truth order
    scores = class_concept_scores(own, labels, test.num_classes)
    mass = class_concept_scores(record["mass"][held_out][:, slot_of].numpy(), labels, test.num_classes)
    out["class_scores"] = scores
    out["precision"] = float(np.nanmean(precision_at_k(scores, rules)))
    out["mass_precision"] = float(np.nanmean(precision_at_k(mass, rules)))
    out["sum_error"] = float(record["contribution_sum_error"])
    for order, curve in record["deletion"].items():
        out[f"deletion_{order}"] = float(drop_auc(curve).mean())
        out[f"curve_{order}"] = curve.mean(0).numpy()
    trace, untrained = record["trace"].mean(0).numpy(), record["trace_untrained"].mean(0).numpy()
    out["trace"], out["trace_untrained"] = trace, untrained
    out["trained_steps"] = record["binding_steps"].mean(0).numpy()
    out["binding_ratio"] = float(trace[-1] / trace[0])
    out["binding_ratio_untrained"] = float(untrained[-1] / untrained[0])
    return out
