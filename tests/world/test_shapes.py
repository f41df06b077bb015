import numpy as np

from revis.world.shapes import (
    CLASS_NAMES,
    CLASS_RULES,
    CONCEPTS,
    DISTRACTORS,
    KEY_OBJECTS,
    generate_shapes,
    matching_classes,
)


def test_world_has_enough_concepts_and_classes():
    assert len(CONCEPTS) >= 6 and len(CLASS_NAMES) >= 4
    assert all(len(rule) >= 2 for rule in CLASS_RULES.values())  # no single concept decides a class


def test_generation_is_deterministic_in_the_seed():
    a, b, c = generate_shapes(40, seed=3), generate_shapes(40, seed=3), generate_shapes(40, seed=4)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.concept_masks, b.concept_masks)
    assert not np.array_equal(a.images, c.images)


def test_each_image_satisfies_exactly_its_class_rule_according_to_the_masks():
    # objects never overlap, so two concept masks intersect iff one object carries both
    data = generate_shapes(200, seed=0)
    index = {name: i for i, name in enumerate(data.concept_names)}
    for masks, label in zip(data.concept_masks, data.labels):
        satisfied = [
            name for name, rule in CLASS_RULES.items() if np.logical_and.reduce([masks[index[c]] for c in rule]).any()
        ]
        assert satisfied == [CLASS_NAMES[label]]


def test_distractors_share_concepts_with_rules_but_match_none():
    assert all(matching_classes(o) == [] for o in DISTRACTORS)
    distractor_concepts = set().union(*(o.concepts for o in DISTRACTORS))
    assert {"red", "green", "blue", "circle", "square", "triangle", "stripes"} <= distractor_concepts
    assert all(objs for objs in KEY_OBJECTS.values())


def test_classes_are_balanced_and_masks_cover_pixels():
    data = generate_shapes(100, seed=1)
    assert np.bincount(data.labels).tolist() == [20] * 5
    assert data.concept_presence.sum(axis=1).min() >= 3  # key object: colour, shape (+ distractor concepts)
    assert data.images.dtype == np.uint8 and data.images.shape[1:] == (32, 32, 3)
