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
            assert all(0 <= b[0] and b[2] <= frame.width and 0 <= b[1] and b[3] <= frame.height for b in plume)
    assert overruns, "with overrun=1 every right-touching merged box overruns; the world drew none"
    assert sum(world.truth["overrunning_merged_boxes"][s] for s in ("source", "target_pool", "test")) == len(overruns)
    for pixels, width in overruns:  # whole pixels, at least 1, at most the release's largest share (rounded)
        assert pixels == int(pixels) and 1 <= pixels <= max(1, round(RELEASE_OVERRUN_SHARE[1] * width))
        assert pixels <= max(8, COCO_MAX_OVERRUN_FRACTION * width)  # the reader's default bound clips them all


def test_no_overruns_when_switched_off():
    world = generate_smoke_world(3, small_config(overrun=0.0))
    assert all(box[2] <= frame.width for frame in world.frames for box in frame.merged)
    assert world.truth["overruns_drawn"] == 0
