"""Deletion/insertion curves and the ground-truth alignment measures."""

import numpy as np
import torch

from revis.attribution.alignment import alignment_tables, best_match, pointing_hits, rank_iou
from revis.attribution.faithfulness import _masks, deletion_insertion, normalised_auc, order_by


def test_deletion_masks_remove_concepts_in_order():
    masks = _masks(torch.tensor([[2, 0, 1]]))
    assert masks[0].tolist() == [[1, 1, 1], [1, 1, 0], [0, 1, 0], [0, 0, 0]]


def test_the_true_order_beats_its_reverse_on_a_linear_target():
    # target = sum of coefficient x weight: the true importance order is known
    weights = torch.tensor([5.0, 3.0, 1.0, 0.5])
    concepts = torch.eye(4)
    forward = lambda x: (x * weights.view(1, 4, 1, 1)).flatten(1).sum(1, keepdim=True)  # noqa: E731
    coefficients = torch.ones(3, 4, 2, 2)
    good = order_by(weights.expand(3, 4))
    bad = good.flip(1)
    d_good, i_good = deletion_insertion(forward, coefficients, concepts, good, 0)
    d_bad, i_bad = deletion_insertion(forward, coefficients, concepts, bad, 0)
    assert d_good.shape == (3, 5)
    torch.testing.assert_close(d_good[:, 0], i_good[:, -1])  # both ends are the full reconstruction
    auc_good, auc_bad = normalised_auc(d_good, i_good), normalised_auc(d_bad, i_bad)
    assert auc_good["deletion"] < auc_bad["deletion"] and auc_good["insertion"] > auc_bad["insertion"]
    # deletion of a sum: the normalised curve is 1 - cumulative share, i.e. 1, 11/19 ... 0
    expected = np.trapezoid([1, 4.5 / 9.5, 1.5 / 9.5, 0.5 / 9.5, 0], np.linspace(0, 1, 5))
    assert abs(auc_good["deletion"] - expected) < 1e-6
    assert normalised_auc(torch.ones(2, 5), torch.ones(2, 5)) is None  # nothing to measure


def test_per_image_class_targets():
    concepts = torch.eye(2)
    forward = lambda x: x.flatten(2).sum(2)  # noqa: E731  logits = coefficient mass of each concept
    coefficients = torch.tensor([[1.0, 2.0], [3.0, 4.0]])[:, :, None, None]
    deletion, _ = deletion_insertion(
        forward, coefficients, concepts, torch.tensor([[0, 1], [1, 0]]), torch.tensor([1, 0])
    )
    assert deletion.tolist() == [[2.0, 2.0, 0.0], [3.0, 3.0, 0.0]]


def test_rank_iou_and_pointing():
    mask = torch.zeros(2, 4, 4, dtype=torch.bool)
    mask[:, :2, :2] = True
    perfect = mask.float() + 0.01 * torch.rand(2, 4, 4)
    assert rank_iou(perfect, mask).tolist() == [1.0, 1.0]
    elsewhere = (~mask).float()
    assert rank_iou(elsewhere, mask).tolist() == [0.0, 0.0]
    assert pointing_hits(perfect, mask).tolist() == [True, True] and not pointing_hits(elsewhere, mask).any()


def test_best_match_picks_the_aligned_ground_truth_concept():
    n = 6
    masks = torch.zeros(n, 2, 8, 8, dtype=torch.bool)
    masks[:, 0, :4] = True  # top half
    masks[:, 1, 4:] = True  # bottom half
    erfs = torch.zeros(n, 2, 8, 8)
    erfs[:, 0] = masks[:, 1].float() + 0.01 * torch.rand(n, 8, 8)  # concept 0 looks at the bottom
    erfs[:, 1] = torch.rand(n, 8, 8)
    active = torch.ones(n, 2, dtype=torch.bool)
    active[:3, 1] = False
    iou, point, count = alignment_tables(erfs, active, masks)
    assert count.tolist() == [[6, 6], [3, 3]]
    match = best_match(iou, point, count, min_images=1)
    assert match["match"][0] == 1 and match["iou"][0] == 1.0 and match["pointing"][0] == 1.0
    assert best_match(iou, point, count, min_images=4)["n_concepts"] == 1
