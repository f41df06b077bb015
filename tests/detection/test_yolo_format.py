import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from revis.datasets.imageset import DataError
from revis.datasets.voc import VocObject, VocRecord, VocScene, parse_voc_xml, read_voc, read_voc_folder, write_voc
from revis.detection.data import detection_splits
from revis.detection.yolo_format import YoloReport, write_yolo_dataset, yolo_label_lines, yolo_line_to_box

FIXTURE = Path(__file__).parents[1] / "datasets" / "fixtures" / "VOC2007"


def record(objects, width=100, height=50, path="x.jpg") -> VocRecord:
    return VocRecord(image_id="000001", image_path=Path(path), width=width, height=height, objects=objects)


def test_label_lines_are_exact_normalised_centres_and_sizes_in_ultralytics_convention():
    # VOC corners 11,6,30,25 (1-based inclusive) -> ultralytics' box [xmin - 1, xmax - 1] = [10, 29] x [5, 24]
    rec = record([VocObject("ring", (10.0, 5.0, 30.0, 25.0)), VocObject("circle", (0.0, 0.0, 100.0, 50.0))])
    assert yolo_label_lines(rec, ["circle", "ring"]) == [
        "1 0.195000 0.290000 0.190000 0.380000",
        "0 0.495000 0.490000 0.990000 0.980000",
    ]


def _ultralytics_convert_label():
    """``convert_label`` exactly as ultralytics' VOC.yaml defines it (its download script, cut before the download)."""
    import xml.etree.ElementTree as ET

    import yaml as pyyaml

    from revis.detection.ultralytics_env import import_ultralytics

    ultralytics = import_ultralytics()
    spec = pyyaml.safe_load((Path(ultralytics.__file__).parent / "cfg" / "datasets" / "VOC.yaml").read_text())
    script = spec["download"]
    source = script[script.index("def convert_label") : script.index("# Download")]
    namespace = {"ET": ET, "yaml": spec}
    exec(source, namespace)  # ultralytics' own converter, read from the installed package
    return namespace["convert_label"], list(spec["names"].values())


def test_labels_equal_ultralytics_own_voc_conversion(tmp_path):
    convert_label, names = _ultralytics_convert_label()
    rng = np.random.default_rng(3)
    root = tmp_path / "VOCdevkit" / "VOC2007"
    (root / "Annotations").mkdir(parents=True)
    (root / "JPEGImages").mkdir()
    for i in range(20):
        w, h = int(rng.integers(60, 500)), int(rng.integers(60, 500))
        objects = []
        for k in range(int(rng.integers(1, 5))):
            xmin, ymin = int(rng.integers(1, w - 3)), int(rng.integers(1, h - 3))
            box = (xmin, ymin, int(rng.integers(xmin + 2, w + 1)), int(rng.integers(ymin + 2, h + 1)))
            objects.append((names[int(rng.integers(len(names)))], box, int(k == 3)))
        body = "".join(
            f"<object><name>{n}</name><difficult>{d}</difficult><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>"
            f"<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
            for n, b, d in objects
        )
        xml = f"<annotation><filename>{i:06d}.jpg</filename><size><width>{w}</width><height>{h}</height></size>{body}</annotation>"
        (root / "Annotations" / f"{i:06d}.xml").write_text(xml)
        Image.new("RGB", (w, h)).save(root / "JPEGImages" / f"{i:06d}.jpg")
        theirs_path = tmp_path / f"{i:06d}.txt"
        convert_label(tmp_path / "VOCdevkit", theirs_path, "2007", f"{i:06d}")
        theirs = [[float(v) for v in line.split()] for line in theirs_path.read_text().splitlines()]
        ours = [
            [float(v) for v in line.split()]
            for line in yolo_label_lines(parse_voc_xml(root / "Annotations" / f"{i:06d}.xml"), names)
        ]
        assert len(ours) == len(theirs) == sum(1 for *_, d in objects if not d)
        assert np.allclose(ours, theirs, atol=2e-6)


def test_label_lines_round_trip_to_the_voc_box():
    rng = np.random.default_rng(0)
    for _ in range(50):
        w, h = int(rng.integers(20, 600)), int(rng.integers(20, 600))
        x0, y0 = float(rng.integers(0, w - 2)), float(rng.integers(0, h - 2))
        box = (x0, y0, float(rng.integers(x0 + 2, w + 1)), float(rng.integers(y0 + 2, h + 1)))
        (line,) = yolo_label_lines(record([VocObject("a", box)], w, h), ["a"])
        cls, back = yolo_line_to_box(line, w, h)
        assert cls == 0 and np.allclose(back, box, atol=1e-5 * max(w, h))


def test_difficult_one_pixel_and_duplicate_boxes_are_left_out_and_counted_unknown_classes_refused():
    rec = record(
        [
            VocObject("a", (1, 1, 5, 5), difficult=True),
            VocObject("a", (-1.0, 2, 101.0, 6)),
            VocObject("a", (-1.0, 2, 101.0, 6)),  # an exact duplicate (ultralytics would drop it silently)
            VocObject("a", (7, 7, 8, 20)),  # one pixel wide: zero width in ultralytics' convention
        ]
    )
    report = YoloReport()
    (line,) = yolo_label_lines(rec, ["a"], report=report)
    assert line == "0 0.495000 0.070000 0.990000 0.060000"
    assert (report.boxes, report.difficult_left_out, report.duplicates_left_out, report.one_pixel_left_out) == (
        1,
        1,
        1,
        1,
    )
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
    # VOC 263,211,324,339 (1-based inclusive) -> ultralytics: centre (263 + 324) / 2 - 1, width 324 - 263
    assert lines[0] == "0 0.585000 0.730667 0.122000 0.341333"


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
        # ultralytics' convention: the reader's (x0, y0, x1, y1) as [x0, x1 - 1] x [y0, y1 - 1]
        assert np.allclose(boxes, [(o.box[0], o.box[1], o.box[2] - 1, o.box[3] - 1) for o in rec.objects], atol=1e-3)
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
    with pytest.raises(DataError, match=r"missing image file .*000000"):
        write_yolo_dataset(tmp_path / "yolo", records, ["circle", "ring"])


def test_truncated_tiny_and_unterminated_images_never_reach_ultralytics_silently(tmp_path):
    _tiny_voc(tmp_path / "VOCmini", n=4)
    records = read_voc_folder(tmp_path / "VOCmini").split("train")
    # a JPEG that decodes but does not end with its end marker (trailing bytes, as some real files have),
    # which ultralytics would re-encode: copied with the marker appended, the original untouched, counted
    path = Path(records[0].image_path)
    original = path.read_bytes()
    assert original.endswith(b"\xff\xd9")
    path.write_bytes(original + b"\x00\x00")
    dataset = write_yolo_dataset(tmp_path / "yolo", records, ["circle", "ring"])
    copy = dataset.image_path(records[0].image_id)
    assert not copy.is_symlink() and copy.read_bytes() == original + b"\x00\x00\xff\xd9"
    assert path.read_bytes() == original + b"\x00\x00"
    assert dataset.report.jpeg_end_marker_added == 1 and dataset.report.images == 3
    # a truncated JPEG (issue 12: the test stage ran on 44 of 45 images) is an error naming the file
    path.write_bytes(original[: len(original) // 2])
    with pytest.raises(DataError, match=f"corrupt or unreadable image file .*{path.name}"):
        write_yolo_dataset(tmp_path / "yolo2", records, ["circle", "ring"])
