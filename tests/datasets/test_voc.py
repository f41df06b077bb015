import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from revis.datasets.images import load_image
from revis.datasets.imageset import DataError
from revis.datasets.voc import VOC_CLASSES, VocObject, VocScene, parse_voc_xml, read_voc, read_voc_folder, write_voc

FIXTURE = Path(__file__).parent / "fixtures" / "VOC2007"


def test_reads_a_real_vocdevkit_annotation(tmp_path):
    root = tmp_path / "VOC2007"
    shutil.copytree(FIXTURE, root)
    (root / "JPEGImages").mkdir(exist_ok=True)  # git keeps no empty folders
    Image.new("RGB", (500, 375), (90, 120, 150)).save(root / "JPEGImages" / "000005.jpg")
    (record,) = read_voc(root, "test")
    assert (record.width, record.height) == (500, 375)
    assert [o.name for o in record.objects] == ["chair"] * 3
    assert record.objects[0].box == (262.0, 210.0, 324.0, 339.0)  # 1-based inclusive -> 0-based half-open
    assert record.objects[2].difficult and record.objects[2].truncated and not record.objects[0].difficult
    assert load_image(record.image_path).shape == (375, 500, 3)


def test_write_then_read_roundtrip(tmp_path):
    gradient = np.broadcast_to(np.linspace(0, 250, 80, dtype=np.uint8)[None, :, None], (64, 80, 3)).copy()
    scenes = [
        VocScene(
            f"{i:06d}",
            gradient,
            [VocObject("circle", (3.0, 4.0, 20.0, 30.0)), VocObject("ring", (40.0, 10.0, 79.0, 64.0), difficult=True)],
        )
        for i in range(3)
    ]
    write_voc(tmp_path / "VOCmini", scenes, {"train": ["000000", "000001"], "test": ["000002"]}, ["circle", "ring"])
    data = read_voc_folder(tmp_path / "VOCmini")
    assert sorted(data.split_ids) == ["test", "train"] and data.class_names == ["circle", "ring"]
    first = data.split("train")[0]
    assert first.objects == scenes[0].objects and (first.width, first.height) == (80, 64)
    assert (tmp_path / "VOCmini" / "ImageSets" / "Main" / "ring_train.txt").read_text().split() == [
        "000000",
        "1",
        "000001",
        "1",
    ]
    assert np.abs(load_image(first.image_path).astype(int) - scenes[0].image).mean() < 3  # JPEG, lossy


def test_malformed_xml_names_the_file(tmp_path):
    bad = tmp_path / "Annotations" / "000001.xml"
    bad.parent.mkdir()
    bad.write_text("<annotation><size><width>10</width>")
    with pytest.raises(DataError, match="000001.xml"):
        parse_voc_xml(bad)


@pytest.mark.parametrize(
    "body",
    [
        "<annotation><filename>a.jpg</filename></annotation>",  # no size
        "<annotation><filename>a.jpg</filename><size><width>9</width><height>9</height></size>"
        "<object><name>x</name><bndbox><xmin>5</xmin><ymin>1</ymin><xmax>2</xmax><ymax>3</ymax></bndbox></object></annotation>",
        "<annotation><filename>a.jpg</filename><size><width>nine</width><height>9</height></size></annotation>",
    ],
)
def test_structurally_invalid_annotations_name_the_file(tmp_path, body):
    path = tmp_path / "broken.xml"
    path.write_text(body)
    with pytest.raises(DataError, match="broken.xml"):
        parse_voc_xml(path)


def test_corrupt_image_names_the_file(tmp_path):
    path = tmp_path / "000007.jpg"
    Image.new("RGB", (16, 16)).save(path)
    path.write_bytes(path.read_bytes()[:40])  # truncated JPEG
    with pytest.raises(DataError, match="000007.jpg"):
        load_image(path)
    with pytest.raises(DataError, match="missing.jpg"):
        load_image(tmp_path / "missing.jpg")


# --- real annotation files in the wild (issues 14.5, 12.1) ---------------------------------------------------


def _annotation(filename: str, size: tuple[int, int], objects: list[tuple[str, tuple[int, int, int, int]]]) -> str:
    body = "".join(
        f"<object><name>{name}</name><difficult>0</difficult><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>"
        f"<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
        for name, b in objects
    )
    return (
        f"<annotation><filename>{filename}</filename><size><width>{size[0]}</width><height>{size[1]}</height>"
        f"<depth>3</depth></size>{body}</annotation>"
    )


def _voc_folder(root: Path, annotations: dict[str, str], image_size=(128, 96), split: str = "trainval") -> Path:
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for image_id, xml in annotations.items():
        (root / "Annotations" / f"{image_id}.xml").write_text(xml)
        Image.new("RGB", image_size, (90, 120, 150)).save(root / "JPEGImages" / f"{image_id}.jpg")
    (root / "ImageSets" / "Main" / f"{split}.txt").write_text("".join(f"{i}\n" for i in annotations))
    return root


def test_without_per_class_lists_the_classes_are_the_20_voc_classes(tmp_path):
    # a two-image folder holding only people: `person` must keep its VOC index 14, not become 0
    root = _voc_folder(
        tmp_path / "VOC2007",
        {
            "000001": _annotation("000001.jpg", (128, 96), [("person", (10, 10, 40, 60))]),
            "000002": _annotation("000002.jpg", (128, 96), [("person", (5, 5, 20, 20)), ("dog", (50, 5, 90, 50))]),
        },
    )
    data = read_voc_folder(root)
    assert data.class_names == list(VOC_CLASSES) and data.class_names.index("person") == 14
    assert read_voc_folder(root, class_names=["dog", "person"]).class_names == ["dog", "person"]
    with pytest.raises(DataError, match=r"000002.xml, object 1: class 'dog' is not one of the class names given"):
        read_voc_folder(root, class_names=["person"])


def test_an_unknown_class_without_per_class_lists_names_the_file(tmp_path):
    root = _voc_folder(tmp_path / "VOC", {"000003": _annotation("000003.jpg", (128, 96), [("unicorn", (1, 1, 9, 9))])})
    with pytest.raises(DataError, match=r"000003.xml, object 0: class 'unicorn' is not one of the 20 Pascal VOC"):
        read_voc_folder(root)


def test_a_filename_that_disagrees_with_the_id_falls_back_to_the_id_with_a_warning(tmp_path, caplog):
    root = _voc_folder(
        tmp_path / "VOC2012",
        {"2008_000123": _annotation("2008_000999.jpg", (128, 96), [("cat", (10, 10, 40, 60))])},
    )
    with caplog.at_level("WARNING", logger="revis.datasets.voc"):
        data = read_voc_folder(root)
    (record,) = data.split("trainval")
    assert record.image_path == root / "JPEGImages" / "2008_000123.jpg"
    assert data.report.filename_fallbacks == 1 and "2008_000999.jpg" in caplog.text
    assert load_image(record.image_path).shape == (96, 128, 3)


def test_xmin_zero_is_clipped_and_counted_not_called_unordered(tmp_path):
    # VOC corners are 1-based; xmin = 0 occurs in real releases: one pixel past the border
    root = _voc_folder(tmp_path / "VOC", {"000004": _annotation("000004.jpg", (128, 96), [("car", (0, 0, 128, 97))])})
    data = read_voc_folder(root)
    (record,) = data.split("trainval")
    assert record.objects[0].box == (0.0, 0.0, 128.0, 96.0)
    assert data.report.boxes.clipped == 1 and data.report.to_dict()["boxes_clipped"] == 1


@pytest.mark.parametrize(
    ("box", "message"),
    [
        ((200, 210, 240, 250), "entirely outside"),  # issue 12: became the YOLO label 4 1.277 1.316 -0.555 -0.633
        ((30, 30, 20, 40), "non-positive size"),
        ((1, 1, 200, 40), "overruns"),
    ],
)
def test_impossible_boxes_name_the_file_and_the_object(tmp_path, box, message):
    root = _voc_folder(
        tmp_path / "VOC",
        {"000005": _annotation("000005.jpg", (128, 96), [("cat", (10, 10, 40, 60)), ("dog", box)])},
    )
    with pytest.raises(DataError, match=rf"000005.xml, object 1 \(dog\).*{message}"):
        read_voc_folder(root)


def test_size_is_checked_against_the_real_image(tmp_path):
    xml = _annotation("000006.jpg", (500, 375), [("cat", (10, 10, 40, 60))])
    root = _voc_folder(tmp_path / "VOC", {"000006": xml}, image_size=(128, 96))
    with pytest.raises(DataError, match=r"000006.xml: <size> says 500 x 375, but .*000006.jpg is 128 x 96"):
        read_voc_folder(root)
    # a missing (zero) size is measured on the image and counted
    zero = _annotation("000006.jpg", (0, 0), [("cat", (10, 10, 40, 60))])
    (root / "Annotations" / "000006.xml").write_text(zero)
    data = read_voc_folder(root)
    assert (data.records["000006"].width, data.records["000006"].height) == (128, 96)
    assert data.report.size_from_image == 1
