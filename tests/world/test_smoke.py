"""The smoke world's border overruns copy the LADA release's (right border only, a share of the width)."""

from revis.datasets.boxes import COCO_MAX_OVERRUN_FRACTION
from revis.world.smoke import RELEASE_OVERRUN_SHARE, SmokeWorldConfig, generate_smoke_world


def small_config(**kwargs) -> SmokeWorldConfig:
    base = dict(source_cameras=3, source_frames=12, target_cameras=6, target_frames=10, test_cameras=3, test_frames=8)
    return SmokeWorldConfig(**{**base, **kwargs})


def test_overruns_are_at_the_right_border_by_a_share_of_the_width_like_the_release():
    world = generate_smoke_world(3, small_config(overrun=1.0, second_plume=1.0, negative_fraction=0.0))
    overruns = []
    for frame in world.frames:
        for box in frame.merged:
            assert box[0] >= 0 and box[1] >= 0 and box[3] <= frame.height  # never the left, top or bottom border
            if box[2] > frame.width:
                overruns.append((box[2] - frame.width, frame.width))
        for plume in frame.fragments:  # fragment boxes never overrun (as in the release's _original files)
            assert all(b[0] >= 0 and b[2] <= frame.width and b[1] >= 0 and b[3] <= frame.height for b in plume)
    assert overruns, "with overrun=1 every right-touching merged box overruns; the world drew none"
    splits = ("source", "source_test", "target_pool", "test", "test_heldout")  # every frame in exactly one
    assert sum(world.truth["overrunning_merged_boxes"][s] for s in splits) == len(overruns)
    for pixels, width in overruns:  # whole pixels, at least 1, at most the release's largest share (rounded)
        assert pixels == int(pixels) and 1 <= pixels <= max(1, round(RELEASE_OVERRUN_SHARE[1] * width))
        assert pixels <= max(8, COCO_MAX_OVERRUN_FRACTION * width)  # the reader's default bound clips them all


def test_no_overruns_when_switched_off():
    world = generate_smoke_world(3, small_config(overrun=0.0))
    assert all(box[2] <= frame.width for frame in world.frames for box in frame.merged)
    assert world.truth["overruns_drawn"] == 0


def test_the_test_split_shares_the_pool_cameras_and_the_heldout_split_does_not():
    config = small_config(seen_test_frames=3, source_test_frames=2)
    world = generate_smoke_world(1, config)
    cameras = {name: {f.camera for f in world.split(name)} for name in world.splits}
    assert cameras["test"] == cameras["target_pool"]  # every pool camera has test frames (the release: 144 of 146)
    assert cameras["target_1"] <= cameras["test"]
    assert not cameras["test_heldout"] & (cameras["target_pool"] | cameras["source"])
    assert cameras["source_test"] == cameras["source"]
    assert len(world.splits["test"]) == config.target_cameras * 3 and len(world.splits["source_test"]) == 3 * 2
    files = [f.relative for f in world.frames]
    assert len(set(files)) == len(files)  # no frame in two splits, no file name twice
    indices = [
        i for name in ("source", "source_test", "target_pool", "test", "test_heldout") for i in world.splits[name]
    ]
    assert sorted(indices) == list(range(len(world.frames)))


def test_the_control_world_differs_from_the_main_world_only_in_where_smoke_is():
    """Without smoke (every frame before ignition) the two placements draw the same frames pixel for pixel: cameras,
    clouds and noise are common to both, and the control moves only the plumes (it once scattered the clouds too)."""
    config = small_config(negative_fraction=1.0, clouds=3.0)
    main, control = generate_smoke_world(5, config, "horizon"), generate_smoke_world(5, config, "uniform")
    assert [f.file for f in main.frames] == [f.file for f in control.frames]
    assert all(not f.merged for f in main.frames)
    assert all((a.image == b.image).all() for a, b in zip(main.frames, control.frames, strict=True))
