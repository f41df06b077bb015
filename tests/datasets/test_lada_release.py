"""The nine released LADA label files (BloomBerry/LADA), read unchanged with the reader's default settings.

The files live in ``../shared/data/lada-release/`` next to the repository (or ``$REVIS_SHARED_DATA``);
they are never copied into the repository, and these tests skip, saying why, where that folder is absent.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from revis.datasets.boxes import COCO_MAX_OVERRUN_FRACTION, BoxError
from revis.datasets.coco import read_coco_detections
from revis.datasets.lada import RELEASE_STEMS, release_file, release_statistics


def _release_dir() -> Path:
    shared = os.environ.get("REVIS_SHARED_DATA")
    root = Path(shared) if shared else Path(__file__).resolve().parents[2].parent / "shared" / "data"
    return root / "lada-release"


RELEASE = _release_dir()
needs_release = pytest.mark.skipif(
    not RELEASE.is_dir(),
    reason=f"{RELEASE} is absent (the released LADA label files; set REVIS_SHARED_DATA to the shared data folder)",
)

# file -> (images, annotations, boxes the reader clips at the right border, largest overrun in px)
RELEASE_FILES = {
    "hpwren_source.json": (609, 294, 20, 17),
    "hpwren_source_original.json": (609, 1219, 0, 0),
    "hpwren_target_test.json": (1081, 496, 8, 33),
    "target_label_0.5%.json": (102, 47, 0, 0),
    "target_label_0.5%_original.json": (102, 174, 0, 0),
    "target_label_1.0%.json": (205, 110, 1, 8),
    "target_label_1.0%_original.json": (205, 393, 0, 0),
    "target_label_3.0%.json": (616, 300, 5, 12),
    "target_label_3.0%_original.json": (616, 1218, 0, 0),
}


@needs_release
@pytest.mark.parametrize("name", sorted(RELEASE_FILES))
def test_every_release_file_loads_with_default_settings(name):
    images, annotations, clipped, largest = RELEASE_FILES[name]
    data = read_coco_detections(RELEASE / name, None, check_files=False)
    assert len(data.images) == images
    assert data.report.boxes == annotations == sum(len(i.boxes) for i in data.images)
    assert data.report.clipped == clipped
    for image in data.images:  # clipped boxes lie inside their image; the raw ones keep the file's numbers
        if len(image.boxes):
            assert (image.boxes[:, [0, 1]] >= 0).all()
            assert (image.boxes[:, 2] <= image.width).all() and (image.boxes[:, 3] <= image.height).all()
    raw = [
        (image.raw_boxes[:, 0] + image.raw_boxes[:, 2] - image.width).max()
        for image in data.images
        if len(image.raw_boxes)
    ]
    assert max(0.0, max(raw)) == largest
    shares, other_borders = [], 0.0
    for image in data.images:
        if len(image.raw_boxes):
            x, y, w, h = image.raw_boxes.T
            shares.append(((x + w - image.width) / image.width).max())
            other_borders = max(other_borders, (-x).max(), (-y).max(), (y + h - image.height).max())
    # every overrun is at the right border, by at most 1.3 % of the width: inside the documented 2 %
    assert other_borders <= 0 and max(shares) <= 0.013 < COCO_MAX_OVERRUN_FRACTION
    assert len(data.report.clipped_examples) == min(clipped, 5)


@needs_release
def test_the_old_fixed_bound_of_8_px_refused_three_release_files():
    """What the issue measured: with 8 px and no share of the side, the first overrun past 8 px is an error."""
    for name, annotation in (
        ("hpwren_source.json", 5),
        ("target_label_3.0%.json", 66),
        ("hpwren_target_test.json", 80),
    ):
        with pytest.raises(BoxError, match=rf"{name}, annotation {annotation} .*overruns"):
            read_coco_detections(RELEASE / name, None, check_files=False, max_overrun_fraction=0.0)


@needs_release
def test_release_label_policy_statistics():
    stats = release_statistics(RELEASE, None, tuple(RELEASE_STEMS))
    assert set(stats) == {"source", "target_0.5", "target_1", "target_3"}  # the test split has no _original file
    source = stats["source"]
    assert (source["merged"]["boxes"], source["fragment"]["boxes"]) == (294, 1219)
    assert round(source["box_count_ratio"], 2) == 4.15  # "about 4x fewer boxes" after merging
    assert (source["merged"]["median_width"], source["fragment"]["median_width"]) == (110.0, 61.0)
    assert source["merged"]["negative_images"] == source["fragment"]["negative_images"] == 319
    assert source["merged"]["clipped_boxes"] == 20 and source["fragment"]["clipped_boxes"] == 0
    for split in ("target_0.5", "target_1", "target_3"):  # merging reduces boxes and widens them in every split
        assert stats[split]["box_count_ratio"] > 3.5 and stats[split]["median_width_ratio"] > 1.8
    assert [stats[s]["merged"]["images"] for s in ("target_0.5", "target_1", "target_3")] == [102, 205, 616]


@needs_release
def test_release_files_follow_the_documented_layouts():
    """The writer's two layouts (``revis.datasets.lada``) are the release's: same keys, same order."""
    merged = json.loads(release_file(RELEASE, "source", "merged").read_text())
    fragment = json.loads(release_file(RELEASE, "source", "fragment").read_text())
    assert list(merged) == ["images", "annotations", "categories"]
    assert list(fragment) == ["info", "licenses", "categories", "images", "annotations"]
    assert list(merged["annotations"][0]) == ["id", "image_id", "bbox", "area", "category_id", "iscrowd"]
    assert list(fragment["annotations"][0]) == [
        "id",
        "image_id",
        "category_id",
        "segmentation",
        "area",
        "bbox",
        "iscrowd",
    ]
    assert merged["categories"] == [{"supercategory": "WildfireDataset", "id": 0, "name": "smoke"}]
