from collections import Counter, defaultdict

from revis.world.detection import DETECTION_CLASSES, generate_detection_world


def test_scenes_meet_the_spec():
    world = generate_detection_world(seed=0, n_families=30)
    assert len(DETECTION_CLASSES) >= 5
    assert all(s.image.shape == (128, 128, 3) for s in world.scenes)
    assert all(len(s.objects) >= 2 for s in world.scenes)
    counts = Counter(o.name for s in world.scenes for o in s.objects)
    assert counts.most_common()[0][1] >= 3 * counts.most_common()[-1][1]  # imbalanced on purpose


def test_boxes_are_tight_and_inside_the_image():
    world = generate_detection_world(seed=1, n_families=10)
    for scene in world.scenes:
        for obj in scene.objects:
            x0, y0, x1, y1 = obj.box
            assert 0 <= x0 < x1 <= 128 and 0 <= y0 < y1 <= 128


def test_families_are_near_duplicates_and_never_split_across_train_and_test():
    world = generate_detection_world(seed=2, n_families=20, family_size=(2, 4))
    members = defaultdict(list)
    for scene in world.scenes:
        members[world.family_of[scene.image_id]].append(scene)
    for scenes in members.values():
        names = {tuple(sorted(o.name for o in s.objects)) for s in scenes}
        assert len(names) == 1  # same objects, jittered
    train_families = {world.family_of[i] for i in world.splits["train"]}
    test_families = {world.family_of[i] for i in world.splits["test"]}
    assert train_families and test_families and not train_families & test_families


def test_deterministic_in_seed():
    a, b = generate_detection_world(seed=5, n_families=5), generate_detection_world(seed=5, n_families=5)
    assert [s.objects for s in a.scenes] == [s.objects for s in b.scenes]
    assert all((x.image == y.image).all() for x, y in zip(a.scenes, b.scenes))
