"""The COCO reader on records in the LADA release's format, the release writer, label-policy statistics."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from revis.datasets.boxes import BoxError
from revis.datasets.coco import read_coco_detections, remap_file_name
from revis.datasets.imageset import DataError
from revis.datasets.lada import (
    LabeledImage,
    dump_release_json,
    label_policy_statistics,
    release_document,
    release_file,
)

FOREIGN = "/home/someone/research/data/mnt/open_dataset/HPWREN-FIgLib-Data"


def release_records(root: Path) -> dict:
    """Three images as the release has them: absolute foreign paths, category 0, a negative, an overrun."""
    for folder, name, size in (
        ("20160604_FIRE_rm-n-mobo-c", "1465067280_+01680.jpg", (64, 48)),
        ("20160604_FIRE_rm-n-mobo-c", "1465064100_-01500.jpg", (64, 48)),
        ("20190610_Pauma_bh-w-mobo-m", "1560195797_-02323.jpg", (40, 30)),
    ):
        (root / folder).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", size, (90, 120, 200)).save(root / folder / name)
    return {
        "images": [
            {
                "id": 1,
                "width": 64,
                "height": 48,
                "file_name": f"{FOREIGN}/20160604_FIRE_rm-n-mobo-c/1465067280_+01680.jpg",
            },
            {
                "id": 2,
                "width": 64,
                "height": 48,
                "file_name": f"{FOREIGN}/20160604_FIRE_rm-n-mobo-c/1465064100_-01500.jpg",
            },
            {
                "id": 3,
                "width": 40,
                "height": 30,
                "file_name": f"{FOREIGN}/20190610_Pauma_bh-w-mobo-m/1560195797_-02323.jpg",
            },
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "bbox": [10, 12, 20, 15], "area": 290, "category_id": 0, "iscrowd": 0},
            {"id": 2, "image_id": 3, "bbox": [30, 5, 13, 10], "area": 128, "category_id": 0, "iscrowd": 0},
        ],
        "categories": [{"supercategory": "WildfireDataset", "id": 0, "name": "smoke"}],
    }


def write(path: Path, document: dict) -> Path:
    path.write_text(json.dumps(document, indent=4))
    return path


def test_reader_takes_the_release_format_unchanged(tmp_path):
    images = tmp_path / "HPWREN-FIgLib-Data"
    labels = write(tmp_path / "hpwren_source.json", release_records(images))
    data = read_coco_detections(labels, images)
    assert [i.path for i in data.images] == [
        images / "20160604_FIRE_rm-n-mobo-c/1465067280_+01680.jpg",
        images / "20160604_FIRE_rm-n-mobo-c/1465064100_-01500.jpg",
        images / "20190610_Pauma_bh-w-mobo-m/1560195797_-02323.jpg",
    ]
    first, negative, overrun = data.images
    assert first.boxes.tolist() == [[10, 12, 30, 27]] and first.classes.tolist() == [0]
    assert len(negative.boxes) == 0 and negative.classes.shape == (0,)  # the negative is kept
    assert overrun.boxes.tolist() == [[30, 5, 40, 15]]  # 3 px past the right border: clipped
    assert overrun.raw_boxes.tolist() == [[30, 5, 13, 10]]  # the file's own numbers, for statistics
    assert data.report.boxes == 2 and data.report.clipped == 1
    assert "annotation 2" in data.report.clipped_examples[0]
    # category 0 never reaches a framework whose label 0 is background
    shifted = read_coco_detections(labels, images, label_offset=1)
    assert shifted.images[0].classes.tolist() == [1] and shifted.category_id(1) == 0
    assert data.class_names == ["smoke"] and data.category_id(0) == 0


@pytest.mark.parametrize(
    ("bbox", "message"),
    [([10, 12, 0, 15], "non-positive size"), ([70, 60, 5, 5], "entirely outside"), ([10, 12, 70, 10], "overruns")],
)
def test_a_bad_box_names_the_file_and_the_annotation(tmp_path, bbox, message):
    images = tmp_path / "HPWREN-FIgLib-Data"
    document = release_records(images)
    document["annotations"][0]["bbox"] = bbox
    labels = write(tmp_path / "target_label_1.0%.json", document)
    with pytest.raises(BoxError, match=message) as info:
        read_coco_detections(labels, images)
    assert "target_label_1.0%.json, annotation 1" in str(info.value)


def test_missing_or_resized_images_and_dangling_annotations_are_errors(tmp_path):
    images = tmp_path / "HPWREN-FIgLib-Data"
    document = release_records(images)
    labels = write(tmp_path / "a.json", document)
    (images / "20190610_Pauma_bh-w-mobo-m/1560195797_-02323.jpg").unlink()
    with pytest.raises(DataError, match="1560195797_-02323.jpg") as info:
        read_coco_detections(labels, images)
    assert f"{labels}: image 3 " in str(info.value)  # the JSON file and the image id, not only the image
    Image.new("RGB", (41, 30)).save(images / "20190610_Pauma_bh-w-mobo-m/1560195797_-02323.jpg")
    with pytest.raises(DataError, match="declared 40 x 30"):
        read_coco_detections(labels, images)
    assert len(read_coco_detections(labels, None, check_files=False).images) == 3  # labels alone need no images
    document["annotations"][1]["image_id"] = 9
    with pytest.raises(DataError, match="annotation 2 refers to image 9"):
        read_coco_detections(write(tmp_path / "b.json", document), None)
    (tmp_path / "c.json").write_text("{not json")
    with pytest.raises(DataError, match="c.json"):
        read_coco_detections(tmp_path / "c.json", None)


def test_file_names_are_remapped_by_their_camera_folder_and_file():
    assert remap_file_name(f"{FOREIGN}/cam/1_+00060.jpg", "/data/figlib") == Path("/data/figlib/cam/1_+00060.jpg")
    assert remap_file_name("D:\\labels\\cam\\1.jpg", "/x") == Path("/x/cam/1.jpg")
    with pytest.raises(DataError):
        remap_file_name("1.jpg", "/x")


def test_release_documents_have_the_two_layouts_of_the_release():
    images = [
        LabeledImage(f"{FOREIGN}/cam/1_+00060.jpg", 64, 48, [(10.4, 12.2, 30.6, 27.9)]),
        LabeledImage(f"{FOREIGN}/cam/2_-00060.jpg", 64, 48, []),
    ]
    merged = release_document(images, "merged")
    fragment = release_document(images, "fragment")
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
    assert merged["annotations"][0]["bbox"] == [10, 12, 21, 16]
    assert merged["annotations"][0]["area"] == round(20.2 * 15.7)  # from the unrounded box, as released
    assert fragment["annotations"][0]["area"] == 21 * 16
    assert merged["categories"] == [{"supercategory": "WildfireDataset", "id": 0, "name": "smoke"}]
    assert [i["id"] for i in merged["images"]] == [1, 2] and len(merged["annotations"]) == 1
    assert dump_release_json(merged).startswith('{\n    "images": [\n        {\n            "id": 1,')
    assert release_file("/l", "target_1", "fragment") == Path("/l/target_label_1.0%_original.json")


def test_label_policy_statistics_count_and_measure_the_files(tmp_path):
    def image(name, boxes):
        return LabeledImage(f"{FOREIGN}/cam/{name}", 200, 100, boxes)

    merged = [image("1.jpg", [(0, 0, 100, 50)]), image("2.jpg", [(10, 10, 70, 40)]), image("3.jpg", [])]
    fragment = [
        image("1.jpg", [(0, 0, 40, 20), (30, 10, 70, 40), (60, 20, 100, 50)]),
        image("2.jpg", [(10, 10, 30, 30), (30, 10, 50, 40), (50, 20, 70, 40)]),
        image("3.jpg", []),
    ]
    for name, images, policy in (("m.json", merged, "merged"), ("f.json", fragment, "fragment")):
        (tmp_path / name).write_text(dump_release_json(release_document(images, policy)))
    stats = label_policy_statistics(
        read_coco_detections(tmp_path / "m.json", None, check_files=False),
        read_coco_detections(tmp_path / "f.json", None, check_files=False),
    )
    assert stats["box_count_ratio"] == 3.0
    assert (
        stats["merged"]["median_width"] == 80.0 and stats["fragment"]["median_width"] == 30.0
    )  # 40, 40, 40, 20, 20, 20
    assert stats["merged"]["negative_images"] == 1 and stats["fragment"]["boxes_per_positive_image"] == 3.0
    assert np.isclose(stats["median_width_ratio"], 80 / 30)


@pytest.mark.parametrize("flag", ["yes", 2, -1, None, "0"])
def test_a_bad_iscrowd_names_the_file_and_the_annotation(tmp_path, flag):
    images = tmp_path / "HPWREN-FIgLib-Data"
    document = release_records(images)
    document["annotations"][1]["iscrowd"] = flag
    labels = write(tmp_path / "target_label_3.0%.json", document)
    with pytest.raises(DataError, match=r"target_label_3\.0%\.json: annotation 2 \(image 3\): iscrowd is"):
        read_coco_detections(labels, images)


def test_crowd_regions_are_skipped_whether_written_as_1_or_true(tmp_path):
    images = tmp_path / "HPWREN-FIgLib-Data"
    for flag in (1, True):
        document = release_records(images)
        document["annotations"][1]["iscrowd"] = flag
        data = read_coco_detections(write(tmp_path / "crowd.json", document), images)
        assert [len(i.boxes) for i in data.images] == [1, 0, 0]


def test_the_overrun_bound_grows_with_the_image(tmp_path):
    """8 px, or 2 % of the side where that is more: 40 px past a 64-px image is an error, past a 3072-px one not."""
    images = tmp_path / "HPWREN-FIgLib-Data"
    document = release_records(images)
    document["images"][0].update(width=3072, height=2048)
    document["annotations"][0]["bbox"] = [3000, 12, 100, 15]  # 28 px past the right border: 0.9 % of 3072
    labels = write(tmp_path / "wide.json", document)
    data = read_coco_detections(labels, None, check_files=False)
    assert data.images[0].boxes.tolist() == [[3000, 12, 3072, 27]] and data.report.clipped == 2
    with pytest.raises(BoxError, match="more than 8 px"):
        read_coco_detections(labels, None, check_files=False, max_overrun_fraction=0.0)
    document["annotations"][0]["bbox"] = [3000, 12, 140, 15]  # 68 px: beyond 2 % (61.4 px)
    with pytest.raises(BoxError, match=r"wide.json, annotation 1 .*more than 61.44 px"):
        read_coco_detections(write(labels, document), None, check_files=False)
