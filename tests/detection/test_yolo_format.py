import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from revis.datasets.imageset import DataError
from revis.datasets.voc import VocObject, VocRecord, VocScene, read_voc, read_voc_folder, write_voc
from revis.detection.data import detection_splits
from revis.detection.yolo_format import write_yolo_dataset, yolo_label_lines, yolo_line_to_box

FIXTURE = Path(__file__).parents[1] / "datasets" / "fixtures" / "VOC2007"


def record(objects, width=100, height=50, path="x.jpg") -> VocRecord:
    return VocRecord(image_id="000001", image_path=Path(path), width=width, height=height, objects=objects)


def test_label_lines_are_exact_normalised_centres_and_sizes():
    rec = record([VocObject("ring", (10.0, 5.0, 30.0, 25.0)), VocObject("circle", (0.0, 0.0, 100.0, 50.0))])
    assert yolo_label_lines(rec, ["circle", "ring"]) == [
        "1 0.200000 0.300000 0.200000 0.400000",
        "0 0.500000 0.500000 1.000000 1.000000",
    ]


def test_label_lines_round_trip_to_the_voc_box():
    rng = np.random.default_rng(0)
    for _ in range(50):
        w, h = int(rng.integers(20, 600)), int(rng.integers(20, 600))
        x0, y0 = float(rng.integers(0, w - 2)), float(rng.integers(0, h - 2))
        box = (x0, y0, float(rng.integers(x0 + 1, w + 1)), float(rng.integers(y0 + 1, h + 1)))
        (line,) = yolo_label_lines(record([VocObject("a", box)], w, h), ["a"])
        cls, back = yolo_line_to_box(line, w, h)
        assert cls == 0 and np.allclose(back, box, atol=1e-5 * max(w, h))


def test_difficult_objects_are_left_out_unknown_classes_refused_borders_clipped():
    rec = record([VocObject("a", (1, 1, 5, 5), difficult=True), VocObject("a", (-1.0, 2, 101.0, 6))])
    (line,) = yolo_label_lines(rec, ["a"])
    assert line == "0 0.500000 0.080000 1.000000 0.080000"
    assert len(yolo_label_lines(rec, ["a"], include_difficult=True)) == 2
    with pytest.raises(DataError, match="'b'"):
        yolo_label_lines(record([VocObject("b", (1, 1, 5, 5))]), ["a"])


def test_a_real_vocdevkit_annotation_converts(tmp_path):
    root = tmp_path / "VOC2007"
    shutil.copytree(FIXTURE, root)
    (root / "JPEGImages").mkdir(exist_ok=True)
    Image.new("RGB", (500, 375), (90, 120, 150)).save(root / "JPEGImages" / "000005.jpg")
    (rec,) = read_voc(root, "test")
    dataset = write_yolo_dataset(tmp_path / "yolo", [rec], ["chair"])
    lines = (dataset.root / "labels" / "000005.txt").read_text().splitlines()
    assert len(lines) == 2  # the difficult chair is left out, as in ultralytics' VOC conversion
    assert lines[0] == "0 0.586000 0.732000 0.124000 0.344000"  # VOC 263,211,324,339 (1-based inclusive)


def _tiny_voc(root: Path, n: int = 4, size: int = 64) -> None:
    rng = np.random.default_rng(0)
    scenes = [
        VocScene(
            f"{i:06d}",
            rng.integers(0, 255, (size, size + 16, 3), dtype=np.uint8),
            [VocObject("circle", (2.0 + i, 3.0, 20.0 + i, 30.0)), VocObject("ring", (30.0, 10.0, 60.0, 40.0))],
        )
        for i in range(n)
    ]
    ids = [s.image_id for s in scenes]
    write_voc(root, scenes, {"train": ids[: n - 1], "trainval": ids[: n - 1], "test": ids[n - 1 :]}, ["circle", "ring"])


def test_ultralytics_reads_the_written_layout_back_to_the_same_boxes(tmp_path):
    from revis.detection.ultralytics_env import import_ultralytics

    _tiny_voc(tmp_path / "VOCmini")
    voc = read_voc_folder(tmp_path / "VOCmini")
    dataset = write_yolo_dataset(tmp_path / "yolo", voc.split("train") + voc.split("test"), voc.class_names)
    data_yaml = dataset.write_yaml("t", voc.split_ids["train"], voc.split_ids["test"])
    assert data_yaml.is_file() and (dataset.root / "images" / "000000.jpg").is_symlink()
    import_ultralytics(tmp_path / "ultralytics")
    from ultralytics.data.dataset import YOLODataset

    ds = YOLODataset(
        img_path=str(dataset.root / "lists" / "t_train.txt"),
        data={"names": {0: "circle", 1: "ring"}, "channels": 3},
        task="detect",
        augment=False,
        imgsz=64,
    )
    assert len(ds.labels) == 3
    for label in ds.labels:
        rec = voc.records[Path(label["im_file"]).stem]
        w, h = rec.width, rec.height
        xywh = label["bboxes"]  # normalised centre/size, as ultralytics stores them
        boxes = np.stack(
            [
                (xywh[:, 0] - xywh[:, 2] / 2) * w,
                (xywh[:, 1] - xywh[:, 3] / 2) * h,
                (xywh[:, 0] + xywh[:, 2] / 2) * w,
                (xywh[:, 1] + xywh[:, 3] / 2) * h,
            ],
            1,
        )
        assert np.allclose(boxes, [o.box for o in rec.objects], atol=1e-3)
        assert label["cls"].ravel().tolist() == [0, 1]


def test_splits_from_the_world_and_from_a_vocdevkit(tmp_path):
    _tiny_voc(tmp_path / "devkit" / "VOC2007", n=4)
    scenes12 = [
        VocScene(f"2012_{i:06d}", np.zeros((40, 40, 3), np.uint8), [VocObject("ring", (1.0, 1.0, 9.0, 9.0))])
        for i in range(2)
    ]
    write_voc(
        tmp_path / "devkit" / "VOC2012", scenes12, {"trainval": [s.image_id for s in scenes12]}, ["circle", "ring"]
    )
    splits = detection_splits(None, str(tmp_path / "devkit"), ["VOC2007/trainval", "VOC2012/trainval"], "VOC2007/test")
    assert (len(splits.train), len(splits.test), splits.class_names) == (5, 1, ["circle", "ring"])
    world = read_voc_folder(tmp_path / "devkit" / "VOC2007")
    assert len(detection_splits(world, None, ["train"], "test").train) == 3
    with pytest.raises(DataError, match="does not exist"):
        detection_splits(None, str(tmp_path / "nowhere"), ["VOC2007/trainval"], "VOC2007/test")
    with pytest.raises(DataError, match="twice"):
        detection_splits(None, str(tmp_path / "devkit"), ["VOC2007/trainval", "VOC2007/trainval"], "VOC2007/test")


def test_bad_vocdevkit_inputs_name_what_is_wrong(tmp_path):
    _tiny_voc(tmp_path / "devkit" / "VOC2007", n=3)
    with pytest.raises(DataError, match="VOC2012"):  # a year folder that is not there
        detection_splits(None, str(tmp_path / "devkit"), ["VOC2012/trainval"], "VOC2007/test")
    with pytest.raises(DataError, match="<year folder>/<split>"):
        detection_splits(None, str(tmp_path / "devkit"), ["trainval"], "VOC2007/test")
    records = read_voc_folder(tmp_path / "devkit" / "VOC2007").split("train")
    Path(records[0].image_path).unlink()
    with pytest.raises(DataError, match="missing image file .*000000"):
        write_yolo_dataset(tmp_path / "yolo", records, ["circle", "ring"])
