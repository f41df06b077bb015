"""Localisation (pointing game, IoU, Hungarian matching), deletion faithfulness, precision@k."""

import numpy as np
import pytest
import torch

from revis.concepts.contributions import (
    chance_precision,
    class_concept_scores,
    derive_rules,
    own_class,
    precision_at_k,
)
from revis.concepts.deletion import coverage_orders, delete_patches, deletion_curves, drop_auc, random_orders
from revis.concepts.localisation import (
    diagonal_scores,
    iou_matrix,
    match_slots,
    nanmean_per_concept,
    pointing_matrix,
    random_maps,
)
from revis.concepts.losses import patch_coverage


def _blocky_masks(n: int = 6, k: int = 3, grid: int = 4, size: int = 16, seed: int = 0) -> torch.Tensor:
    """Masks made of whole patches, so a patch-grid map can match them exactly."""
    rng = np.random.default_rng(seed)
    cells = rng.random((n, k, grid, grid)) < 0.3
    cells[:, :, 0, 0] = True  # every concept present in every image
    return torch.from_numpy(np.kron(cells, np.ones((1, 1, size // grid, size // grid))).astype(bool))


def test_maps_equal_to_the_masks_score_perfect_iou_and_pointing():
    masks = _blocky_masks()
    maps = patch_coverage(masks, 4)  # (N, L, K), exactly the masks on the grid
    iou, pointing = iou_matrix(maps, masks, 4, threshold=0.5), pointing_matrix(maps, masks, 4)
    identity = np.arange(3)
    # bilinear upsampling rounds the blocks' corners: near-perfect, not exactly 1
    assert (nanmean_per_concept(diagonal_scores(iou, identity)) > 0.85).all()
    assert iou[:, 0, 0].mean() > iou[:, 1, 0].mean()
    assert np.allclose(nanmean_per_concept(diagonal_scores(pointing, identity)), 1.0)
    flipped = 1 - maps  # points away from every concept
    assert nanmean_per_concept(diagonal_scores(pointing_matrix(flipped, masks, 4), identity)).max() < 1.0


def test_absent_concepts_do_not_count():
    masks = _blocky_masks()
    masks[0, 1] = False
    iou = iou_matrix(patch_coverage(masks, 4), masks, 4)
    assert torch.isnan(iou[0, :, 1]).all() and not torch.isnan(iou[1, :, 1]).any()


def test_hungarian_matching_recovers_a_slot_permutation():
    masks = _blocky_masks(n=20, seed=1)
    permutation = [2, 0, 1]  # slot s shows concept permutation[s]
    maps = patch_coverage(masks, 4)[:, :, permutation] + 0.01 * torch.rand(20, 16, 3)
    score = np.nanmean(iou_matrix(maps, masks, 4).numpy(), axis=0)
    slot_of = match_slots(score)
    assert [permutation[s] for s in slot_of] == [0, 1, 2]


def test_random_maps_are_far_from_perfect():
    masks = _blocky_masks(n=50, seed=2)
    maps = random_maps(50, 4, 3, seed=0)
    assert torch.allclose(maps.sum(-1), torch.ones(50, 16))
    score = nanmean_per_concept(diagonal_scores(iou_matrix(maps, masks, 4), np.arange(3)))
    assert score.mean() < 0.6


def test_delete_patches_fills_exactly_the_chosen_patches_with_the_mean_colour():
    x = torch.rand(2, 3, 8, 8)
    order = torch.tensor([[3, 0, 1, 2], [0, 1, 2, 3]])
    out = delete_patches(x, order, 1, grid=2)
    mean = x.mean(dim=(2, 3))
    assert torch.allclose(out[0, :, 4:, 4:], mean[0][:, None, None].expand(3, 4, 4))  # patch 3: bottom right
    assert torch.equal(out[0, :, :4, :], x[0, :, :4, :]) and torch.equal(out[0, :, 4:, :4], x[0, :, 4:, :4])
    assert torch.allclose(out[1, :, :4, :4], mean[1][:, None, None].expand(3, 4, 4))
    assert torch.equal(delete_patches(x, order, 0, 2), x)


def test_deleting_the_evidence_first_drops_the_logit_faster_than_random():
    """A 'model' whose logit is the brightness of the top-left quadrant: deleting it first wins."""
    torch.manual_seed(0)
    x = torch.rand(16, 1, 8, 8) * 0.2
    x[:, :, :4, :4] += 0.8

    def logits(images):
        return torch.stack([images[:, 0, :4, :4].mean((1, 2)), torch.zeros(len(images))], dim=1)

    target = torch.zeros(16, dtype=torch.int64)
    evidence_first = torch.tensor([[0, 1, 2, 3]] * 16)
    evidence_last = torch.tensor([[3, 2, 1, 0]] * 16)
    best = drop_auc(deletion_curves(logits, x, target, evidence_first, grid=2, steps=4, batch_size=5))
    worst = drop_auc(deletion_curves(logits, x, target, evidence_last, grid=2, steps=4))
    rand = drop_auc(deletion_curves(logits, x, target, random_orders(16, 4, seed=0), grid=2, steps=4))
    assert (best > worst).all() and best.mean() > rand.mean() > worst.mean()
    assert deletion_curves(logits, x, target, evidence_first, 2, 4).shape == (16, 5)


def test_coverage_orders_put_the_covered_patches_first_and_shuffle_ties():
    coverage = torch.tensor([[0.0, 1.0, 0.0, 0.5, 0.0, 0.0]] * 8)
    orders = coverage_orders(coverage, seed=0)
    assert (orders[:, 0] == 1).all() and (orders[:, 1] == 3).all()
    assert sorted(orders[0].tolist()) == list(range(6))
    assert len({tuple(o[2:].tolist()) for o in orders}) > 1  # the uncovered patches in seeded random orders
    assert torch.equal(orders, coverage_orders(coverage, seed=0))


def test_deleting_the_ground_truth_concept_mask_hurts_a_mask_reading_model_most():
    """The known answer: a model whose class logit is the brightness inside the class's concept mask. Deleting
    the patches that mask covers (``rule_coverage`` -> ``coverage_orders``) must drop the logit faster than any
    other order tried, here random orders and the mask's patches last."""
    from revis.concepts.runs import rule_coverage
    from revis.datasets.imageset import ImageSet

    n, grid, size = 12, 4, 16
    masks = _blocky_masks(n=n, k=3, grid=grid, size=size, seed=3)
    x = torch.rand(n, 3, size, size) * 0.1 + 0.6 * masks[:, :1].float()  # concept 0's pixels are bright
    test = ImageSet(
        images=(x.permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8),
        labels=np.zeros(n, dtype=np.int64),
        class_names=["a", "b"],
        concept_names=["c0", "c1", "c2"],
        concept_masks=masks.numpy(),
    )
    images = test.tensors()[0]
    inside = masks[:, 0].float()

    def logits(batch):
        reading = (batch.mean(1) * inside[: len(batch)]).sum((1, 2)) / inside[: len(batch)].sum((1, 2))
        return torch.stack([reading, torch.zeros(len(batch))], dim=1)

    target = torch.zeros(n, dtype=torch.int64)
    coverage = rule_coverage(test, torch.arange(n), target, [[0], [1, 2]], grid)
    assert torch.allclose(coverage, patch_coverage(masks, grid)[..., 0])
    known = coverage_orders(coverage, seed=1)

    def auc(order):
        return drop_auc(deletion_curves(logits, images, target, order, grid=grid, steps=8, batch_size=n))

    rand = torch.stack([auc(random_orders(n, grid * grid, seed=s)) for s in range(4)]).mean(0)
    last = auc(known.flip(1))
    assert auc(known).mean() > rand.mean() + 0.05 and rand.mean() > last.mean()
    assert (auc(known) >= rand - 1e-6).all()


def test_precision_at_k_against_rules():
    scores = np.array([[0.9, 0.8, 0.1, 0.0], [0.1, 0.2, 0.9, 0.3]])
    rules = [[0, 1], [2, 0]]
    assert precision_at_k(scores, rules).tolist() == [1.0, 0.5]
    assert chance_precision(rules, 4) == pytest.approx(0.5)
    contributions = np.zeros((4, 2, 4))
    contributions[:, 0, 0] = 1.0  # class 0's logit comes from concept 0 only
    contributions[:, 1, 3] = 2.0
    labels = np.array([0, 0, 1, 1])
    own = own_class(contributions, labels)
    assert own.shape == (4, 4) and own[2, 3] == 2.0
    per_class = class_concept_scores(own, labels, 2)
    assert per_class[0].tolist() == [1.0, 0.0, 0.0, 0.0] and per_class[1].argmax() == 3


def test_rules_derived_from_concept_frequencies():
    presence = np.array([[1, 0, 1], [1, 0, 0], [0, 1, 0], [0, 1, 1]], dtype=bool)
    labels = np.array([0, 0, 1, 1])
    assert derive_rules(presence, labels, 3, 0.5) == [[0, 2], [1, 2], []]
