import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from revis.datasets.images import load_image
from revis.datasets.imageset import DataError
from revis.datasets.voc import VocObject, VocScene, parse_voc_xml, read_voc, read_voc_folder, write_voc

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
