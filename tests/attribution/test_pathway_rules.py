"""Class pathways scored against the world's concept-to-class rules (``revis.attribution.rules``)."""

import numpy as np
import pytest
import torch

from revis.attribution.rules import (
    chance_precision,
    class_pathways,
    mask_association,
    pathway_precision,
    random_pathway_precision,
    world_rules,
)


def test_mask_association_is_the_share_of_each_concepts_mass_inside_each_mask():
    masks = torch.zeros(1, 2, 4, 4, dtype=torch.bool)
    masks[0, 0, :2] = True  # world concept 0: top half
    masks[0, 1, :, :2] = True  # world concept 1: left half
    coefficients = torch.zeros(1, 3, 2, 2)
    coefficients[0, 0, 0, 1] = 2.0  # top right: inside 0 only
    coefficients[0, 1, 1, 0] = 1.0  # bottom left: inside 1 only
    coefficients[0, 1, 0, 0] = 1.0  # top left: inside both
    association = mask_association(coefficients, masks)
    np.testing.assert_allclose(association, [[1.0, 0.0], [0.5, 1.0], [0.0, 0.0]])


def test_pathway_weights_follow_the_links_backwards_per_class():
    classes = np.array([0, 0, 1])
    last = np.array([[1.0, 0.0], [3.0, -1.0], [0.0, 2.0]])  # (N, k_L): class GIG
    link = np.zeros((3, 1, 3))  # (N, T = 1, k_a): every image links target concept 1 of the last block to concept 2
    link[:, 0, 2] = 1.0
    weights = class_pathways(last, classes, [(link, np.array([1]))], num_classes=3)
    np.testing.assert_allclose(weights[0], [[2.0, 0.0], [0.0, 2.0], [0.0, 0.0]])  # negatives clipped, class 2 empty
    np.testing.assert_allclose(weights[1], [[0.0, 0.0, 0.0], [0.0, 0.0, 2.0], [0.0, 0.0, 0.0]])


def test_precision_finds_the_rule_concepts_and_random_pathways_do_not():
    rng = np.random.default_rng(0)
    n_world, k = 6, 30
    rules = [[0, 1], [2, 3], [4, 5]]
    association = rng.random((k, n_world)) * 0.1
    owner = np.arange(k) % 3  # concept q belongs to class owner[q]: lies on its two rule concepts' masks
    for q in range(k):
        association[q, rules[owner[q]]] += 1.0
    weights = np.stack([(owner == c).astype(float) for c in range(3)])
    base = association.mean(0)
    present = np.array([True, True, True])
    assert pathway_precision(weights, association, base, rules, present) == 1.0
    rand = random_pathway_precision(weights, association, base, rules, present, draws=50, seed=0)
    assert rand < 0.8
    assert chance_precision(rules, n_world) == pytest.approx(1 / 3)
    assert pathway_precision(np.zeros_like(weights), association, base, rules, present) == 0.0


def test_world_rules_map_names_to_indices_and_need_every_class():
    stated = {"classes": {"red_circle": ["red", "circle"], "blue_square": ["blue", "square"]}}
    concepts = ["red", "blue", "circle", "square"]
    assert world_rules(stated, ["red_circle", "blue_square"], concepts) == [[0, 2], [1, 3]]
    assert world_rules(stated, ["red_circle", "green"], concepts) is None
    assert world_rules({}, ["red_circle"], concepts) is None


def test_ties_at_the_cut_score_their_expected_precision():
    from revis.attribution.rules import top_k_precision

    assert top_k_precision(np.array([3.0, 2.0, 1.0, 0.0]), [0, 1]) == 1.0
    assert top_k_precision(np.zeros(4), [0, 1]) == pytest.approx(0.5)  # nothing told apart: chance, not indices 0, 1
    assert top_k_precision(np.array([5.0, 1.0, 1.0, 1.0]), [0, 3]) == pytest.approx((1 + 1 / 3) / 2)


def test_the_random_pathway_shuffles_weights_only_among_the_class_s_present_concepts():
    from revis.attribution.rules import class_presence

    coefficients = torch.zeros(3, 4, 2, 2)
    coefficients[0, :2] = 1.0  # image 0 (class 0): concepts 0, 1
    coefficients[1, 2] = 1.0  # image 1 (class 1): concept 2
    coefficients[2, 3] = -1.0  # image 2 (class 1): a negative code is no presence
    presence = class_presence(coefficients, np.array([0, 1, 1]), num_classes=2)
    assert presence.tolist() == [[True, True, False, False], [False, False, True, False]]
    association = np.eye(4)
    base = np.full(4, 0.25)
    weights = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    rules = [[1], [2]]
    both = np.array([True, True])
    # class 1 has one candidate: its weight cannot move; class 0's weight lands on concept 1 half the time
    rand = random_pathway_precision(weights, association, base, rules, both, draws=400, seed=0, candidates=presence)
    assert rand == pytest.approx((0.5 + 1.0) / 2, abs=0.05)
    anywhere = random_pathway_precision(weights, association, base, rules, both, draws=400, seed=0)
    assert anywhere == pytest.approx((0.25 + 0.25) / 2, abs=0.05)
