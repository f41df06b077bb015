"""Pascal VOC layout: ``Annotations/*.xml``, ``JPEGImages/*.jpg``, ``ImageSets/Main/<split>.txt``.

The same reader loads a real ``VOCdevkit/VOC2007`` (or VOC2012) folder and the mini world's
detection scenes.

Boxes are returned 0-based and half-open, ``(x0, y0, x1, y1)`` in pixels: VOC stores 1-based
*inclusive* corners, so ``x0 = xmin - 1`` and ``x1 = xmax`` -- the box covering exactly the
annotated pixels (the VOC devkit's own area ``(xmax - xmin + 1) * (ymax - ymin + 1)`` counts
the same pixels). ultralytics' VOC conversion uses ``[xmin - 1, xmax - 1]`` instead, one pixel
narrower and half a pixel shifted; ``revis.detection.yolo_format`` writes YOLO labels in
ultralytics' convention, since ultralytics trains on them.

What real annotation releases contain, and what the reader does (all counted in ``VocReport``):

- a box that overruns the image by a few pixels (``xmin = 0`` is common in the wild) is
  clipped (``revis.datasets.boxes.check_box``); a box of non-positive size, entirely outside
  the image or far beyond it is an error naming the file and the object;
- ``<size>`` is checked against the image file's real size when the image exists (a
  mismatch is an error naming both); a missing or zero ``<size>`` is taken from the image;
- a ``<filename>`` that disagrees with the annotation's id (files renamed after annotation)
  falls back to ``<id>.jpg``, with a warning;
- without per-class split lists (``<class>_<split>.txt``), the class list is the canonical 20
  VOC classes (``VOC_CLASSES``, the index order of the devkit and of ultralytics' VOC.yaml),
  unless the caller names the classes; an object of another class is an error naming it.
"""

from __future__ import annotations

import logging
import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from revis.atomic import atomic_directory
from revis.datasets.boxes import BoxError, BoxReport, check_box
from revis.datasets.imageset import DataError

log = logging.getLogger(__name__)

# the 20 Pascal VOC classes in the devkit's index order (also ultralytics' VOC.yaml names 0-19)
VOC_CLASSES = (
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)


@dataclass
class VocReport:
    """What reading a VOC folder repaired or assumed, reported next to the data (never silent)."""

    records: int = 0
    boxes: BoxReport = field(default_factory=BoxReport)
    filename_fallbacks: int = 0
    size_from_image: int = 0
    examples: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        log.warning(text)
        if len(self.examples) < 5:
            self.examples.append(text)

    def add(self, other: VocReport) -> None:
        self.records += other.records
        self.boxes.add(other.boxes)
        self.filename_fallbacks += other.filename_fallbacks
        self.size_from_image += other.size_from_image
        self.examples += other.examples[: max(0, 5 - len(self.examples))]

    def to_dict(self) -> dict[str, object]:
        return {
            "records": self.records,
            "boxes": self.boxes.boxes,
            "boxes_clipped": self.boxes.clipped,
            "filename_fallbacks": self.filename_fallbacks,
            "size_from_image": self.size_from_image,
            "examples": [*self.boxes.clipped_examples, *self.examples][:5],
        }


@dataclass(frozen=True)
class VocObject:
    name: str
    box: tuple[float, float, float, float]  # 0-based, half-open (x0, y0, x1, y1)
    difficult: bool = False
    truncated: bool = False


@dataclass
class VocRecord:
    image_id: str
    image_path: Path
    width: int
    height: int
    objects: list[VocObject] = field(default_factory=list)


@dataclass
class VocScene:
    """A scene to be written: pixels plus its objects."""

    image_id: str
    image: np.ndarray  # uint8 (H, W, 3)
    objects: list[VocObject]


def _text(element: ET.Element, tag: str, path: Path) -> str:
    child = element.find(tag)
    if child is None or child.text is None:
        raise DataError(f"malformed VOC annotation {path}: missing <{tag}>")
    return child.text.strip()


def _flag(obj: ET.Element, tag: str) -> bool:
    child = obj.find(tag)
    return child is not None and (child.text or "0").strip() == "1"


def _image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the image header (nothing decoded); None when there is no file."""
    try:
        with Image.open(path) as image:
            return image.size
    except FileNotFoundError:
        return None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"corrupt or unreadable image file {path}: {exc}") from exc


def _image_path(root: ET.Element, path: Path, image_dir: Path, report: VocReport) -> Path:
    """``<filename>`` under ``image_dir``; ``<id>.jpg`` when it names another image (renamed files)."""
    element = root.find("filename")
    filename = (element.text or "").strip() if element is not None else ""
    if filename and Path(filename).stem == path.stem:
        return image_dir / filename
    fallback = image_dir / f"{path.stem}{Path(filename).suffix or '.jpg'}"
    if not fallback.exists() and fallback.suffix != ".jpg":
        fallback = fallback.with_suffix(".jpg")
    report.filename_fallbacks += 1
    report.note(f"{path}: <filename> {filename!r} disagrees with the annotation's id; using {fallback.name}")
    return fallback


def parse_voc_xml(
    path: str | os.PathLike,
    image_dir: str | os.PathLike | None = None,
    report: VocReport | None = None,
    max_overrun: float = 8.0,
) -> VocRecord:
    """Parse one VOC annotation file; any defect raises ``DataError`` naming the file (and object).

    Boxes are checked against ``<size>`` and, when the image file exists, against its real
    size; small overruns are clipped and counted in ``report``.
    """
    path = Path(path)
    report = report if report is not None else VocReport()
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        raise DataError(f"missing VOC annotation {path}") from None
    except ET.ParseError as exc:
        raise DataError(f"malformed VOC annotation {path}: {exc}") from exc
    if root.tag != "annotation":
        raise DataError(f"malformed VOC annotation {path}: root element is <{root.tag}>")
    image_dir = Path(image_dir) if image_dir is not None else path.parent.parent / "JPEGImages"
    image_path = _image_path(root, path, image_dir, report)
    width, height = _checked_size(root, path, image_path, report)
    objects = [
        _voc_object(obj, number, path, width, height, max_overrun, report)
        for number, obj in enumerate(root.findall("object"))
    ]
    report.records += 1
    return VocRecord(image_id=path.stem, image_path=image_path, width=width, height=height, objects=objects)


def _checked_size(root: ET.Element, path: Path, image_path: Path, report: VocReport) -> tuple[int, int]:
    """``<size>``, checked against the image file when it exists (and taken from it when ``<size>`` is 0)."""
    size = root.find("size")
    if size is None:
        raise DataError(f"malformed VOC annotation {path}: missing <size>")
    try:
        width, height = int(_text(size, "width", path)), int(_text(size, "height", path))
    except ValueError as exc:
        raise DataError(f"malformed VOC annotation {path}: <size> {exc}") from exc
    real = _image_size(image_path)
    if width <= 0 or height <= 0:
        if real is None:
            raise DataError(f"VOC annotation {path}: <size> is {width} x {height} and there is no image to measure")
        report.size_from_image += 1
        report.note(f"{path}: <size> {width} x {height}; using the image's {real[0]} x {real[1]}")
        width, height = real
    elif real is not None and real != (width, height):
        raise DataError(
            f"VOC annotation {path}: <size> says {width} x {height}, but {image_path} is {real[0]} x {real[1]}"
        )
    return width, height


def _voc_object(
    obj: ET.Element, number: int, path: Path, width: int, height: int, max_overrun: float, report: VocReport
) -> VocObject:
    """One ``<object>``: its name, its box checked against the image (small overruns clipped), its flags."""
    name = _text(obj, "name", path)
    bnd = obj.find("bndbox")
    if bnd is None:
        raise DataError(f"malformed VOC annotation {path}: object {number} ({name}) has no <bndbox>")
    try:
        xmin, ymin, xmax, ymax = (float(_text(bnd, tag, path)) for tag in ("xmin", "ymin", "xmax", "ymax"))
    except ValueError as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"malformed VOC annotation {path}: object {number} ({name}): {exc}") from exc
    try:
        # 1-based inclusive corners -> 0-based half-open (see the module doc)
        box = check_box(
            (xmin - 1.0, ymin - 1.0, xmax, ymax),
            width,
            height,
            where=f"{path}, object {number} ({name}), VOC corners {xmin:g},{ymin:g},{xmax:g},{ymax:g}",
            max_overrun=max_overrun,
            report=report.boxes,
        )
    except BoxError as exc:
        raise DataError(str(exc)) from exc
    return VocObject(name=name, box=box, difficult=_flag(obj, "difficult"), truncated=_flag(obj, "truncated"))


def read_split_ids(root: str | os.PathLike, split: str) -> list[str]:
    path = Path(root) / "ImageSets" / "Main" / f"{split}.txt"
    try:
        return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        raise DataError(f"missing VOC split file {path}") from None


def read_voc(root: str | os.PathLike, split: str, report: VocReport | None = None) -> list[VocRecord]:
    """All records of ``split`` (e.g. ``trainval``, ``test``) under one VOC year folder."""
    root = Path(root)
    return [
        parse_voc_xml(root / "Annotations" / f"{image_id}.xml", report=report)
        for image_id in read_split_ids(root, split)
    ]


@dataclass
class VocData:
    """A VOC folder in memory: split lists, class names, and records (read) or scenes (to write)."""

    class_names: list[str]
    split_ids: dict[str, list[str]]
    records: dict[str, VocRecord] = field(default_factory=dict)
    scenes: list[VocScene] | None = None
    root: Path | None = None
    report: VocReport = field(default_factory=VocReport)

    def split(self, name: str) -> list[VocRecord]:
        if name not in self.split_ids:
            raise KeyError(f"no split {name!r} (have {sorted(self.split_ids)})")
        return [self.records[i] for i in self.split_ids[name]]


def listed_classes(root: str | os.PathLike, splits: Sequence[str]) -> list[str]:
    """Class names of the per-class split lists (``<class>_<split>.txt``), sorted; [] without any."""
    main = Path(root) / "ImageSets" / "Main"
    return sorted({p.name[: -len(f"_{s}.txt")] for s in splits for p in main.glob(f"*_{s}.txt")})


def read_voc_folder(
    root: str | os.PathLike,
    splits: tuple[str, ...] = ("train", "val", "trainval", "test"),
    class_names: Sequence[str] | None = None,
) -> VocData:
    """Every split list present under ``ImageSets/Main`` and the records they name.

    The class list: ``class_names`` when given; else that of the per-class lists, as in the
    VOCdevkit (so a class with no object in some split keeps its index); else the canonical
    ``VOC_CLASSES`` -- never the names that happen to occur, which would renumber classes.
    """
    root = Path(root)
    split_ids = {s: read_split_ids(root, s) for s in splits if (root / "ImageSets" / "Main" / f"{s}.txt").exists()}
    if not split_ids:
        raise DataError(f"no split lists ({', '.join(splits)}) under {root / 'ImageSets' / 'Main'}")
    report = VocReport()
    wanted = sorted({i for ids in split_ids.values() for i in ids})
    records = {i: parse_voc_xml(root / "Annotations" / f"{i}.xml", report=report) for i in wanted}
    if class_names is not None:
        names, source = list(class_names), "the class names given"
    elif listed := listed_classes(root, list(split_ids)):
        names, source = listed, f"the per-class lists under {root / 'ImageSets' / 'Main'}"
    else:
        names, source = list(VOC_CLASSES), "the 20 Pascal VOC classes (no per-class lists; pass class_names)"
    known = set(names)
    for record in records.values():
        for number, obj in enumerate(record.objects):
            if obj.name not in known:
                raise DataError(
                    f"{root / 'Annotations' / record.image_id}.xml, object {number}: class {obj.name!r} "
                    f"is not one of {source}"
                )
    return VocData(class_names=names, split_ids=split_ids, records=records, root=root, report=report)


def _annotation_xml(scene: VocScene, folder: str) -> bytes:
    height, width = scene.image.shape[:2]
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = folder
    ET.SubElement(root, "filename").text = f"{scene.image_id}.jpg"
    source = ET.SubElement(root, "source")
    ET.SubElement(source, "database").text = "revis mini world"
    size = ET.SubElement(root, "size")
    for tag, value in (("width", width), ("height", height), ("depth", 3)):
        ET.SubElement(size, tag).text = str(value)
    ET.SubElement(root, "segmented").text = "0"
    for obj in scene.objects:
        node = ET.SubElement(root, "object")
        ET.SubElement(node, "name").text = obj.name
        ET.SubElement(node, "pose").text = "Unspecified"
        ET.SubElement(node, "truncated").text = str(int(obj.truncated))
        ET.SubElement(node, "difficult").text = str(int(obj.difficult))
        box = ET.SubElement(node, "bndbox")
        x0, y0, x1, y1 = obj.box
        for tag, value in (("xmin", x0 + 1), ("ymin", y0 + 1), ("xmax", x1), ("ymax", y1)):
            ET.SubElement(box, tag).text = str(round(float(value)))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8")


def write_voc(
    root: str | os.PathLike,
    scenes: list[VocScene],
    splits: dict[str, list[str]],
    class_names: list[str],
    folder: str = "VOCmini",
    jpeg_quality: int = 95,
) -> None:
    """Write scenes as a VOC year folder, atomically: per-split and per-class split files too."""
    with atomic_directory(root) as tmp:
        for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
            (tmp / sub).mkdir(parents=True)
        for scene in scenes:
            Image.fromarray(scene.image).save(tmp / "JPEGImages" / f"{scene.image_id}.jpg", quality=jpeg_quality)
            (tmp / "Annotations" / f"{scene.image_id}.xml").write_bytes(_annotation_xml(scene, folder))
        names_in = {scene.image_id: {obj.name for obj in scene.objects} for scene in scenes}
        for split, ids in splits.items():
            (tmp / "ImageSets" / "Main" / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids))
            for name in class_names:  # VOC's per-class lists: 1 present, -1 absent
                lines = "".join(f"{i} {1 if name in names_in[i] else -1:2d}\n" for i in ids)
                (tmp / "ImageSets" / "Main" / f"{name}_{split}.txt").write_text(lines)
