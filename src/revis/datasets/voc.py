"""Pascal VOC layout: ``Annotations/*.xml``, ``JPEGImages/*.jpg``, ``ImageSets/Main/<split>.txt``.

The same reader loads a real ``VOCdevkit/VOC2007`` (or VOC2012) folder and the mini world's
detection scenes. Boxes are returned 0-based and half-open, ``(x0, y0, x1, y1)`` in pixels:
VOC stores 1-based inclusive corners, so ``x0 = xmin - 1`` and ``x1 = xmax``.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from revis.atomic import atomic_directory
from revis.datasets.imageset import DataError


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


def parse_voc_xml(path: str | os.PathLike, image_dir: str | os.PathLike | None = None) -> VocRecord:
    """Parse one VOC annotation file; any defect raises ``DataError`` naming the file."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        raise DataError(f"missing VOC annotation {path}") from None
    except ET.ParseError as exc:
        raise DataError(f"malformed VOC annotation {path}: {exc}") from exc
    if root.tag != "annotation":
        raise DataError(f"malformed VOC annotation {path}: root element is <{root.tag}>")
    size = root.find("size")
    if size is None:
        raise DataError(f"malformed VOC annotation {path}: missing <size>")
    try:
        width, height = int(_text(size, "width", path)), int(_text(size, "height", path))
        objects = []
        for obj in root.findall("object"):
            bnd = obj.find("bndbox")
            if bnd is None:
                raise DataError(f"malformed VOC annotation {path}: <object> without <bndbox>")
            xmin, ymin, xmax, ymax = (float(_text(bnd, tag, path)) for tag in ("xmin", "ymin", "xmax", "ymax"))
            if not (0 < xmin <= xmax and 0 < ymin <= ymax):
                raise DataError(f"malformed VOC annotation {path}: box {xmin, ymin, xmax, ymax} is not ordered")
            difficult = obj.find("difficult")
            truncated = obj.find("truncated")
            objects.append(
                VocObject(
                    name=_text(obj, "name", path),
                    box=(xmin - 1.0, ymin - 1.0, xmax, ymax),
                    difficult=difficult is not None and (difficult.text or "0").strip() == "1",
                    truncated=truncated is not None and (truncated.text or "0").strip() == "1",
                )
            )
    except ValueError as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"malformed VOC annotation {path}: {exc}") from exc
    filename = _text(root, "filename", path)
    image_dir = Path(image_dir) if image_dir is not None else path.parent.parent / "JPEGImages"
    return VocRecord(image_id=path.stem, image_path=image_dir / filename, width=width, height=height, objects=objects)


def read_split_ids(root: str | os.PathLike, split: str) -> list[str]:
    path = Path(root) / "ImageSets" / "Main" / f"{split}.txt"
    try:
        return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        raise DataError(f"missing VOC split file {path}") from None


def read_voc(root: str | os.PathLike, split: str) -> list[VocRecord]:
    """All records of ``split`` (e.g. ``trainval``, ``test``) under one VOC year folder."""
    root = Path(root)
    return [parse_voc_xml(root / "Annotations" / f"{image_id}.xml") for image_id in read_split_ids(root, split)]


@dataclass
class VocData:
    """A VOC folder in memory: split lists, class names, and records (read) or scenes (to write)."""

    class_names: list[str]
    split_ids: dict[str, list[str]]
    records: dict[str, VocRecord] = field(default_factory=dict)
    scenes: list[VocScene] | None = None
    root: Path | None = None

    def split(self, name: str) -> list[VocRecord]:
        if name not in self.split_ids:
            raise KeyError(f"no split {name!r} (have {sorted(self.split_ids)})")
        return [self.records[i] for i in self.split_ids[name]]


def read_voc_folder(root: str | os.PathLike, splits: tuple[str, ...] = ("train", "val", "trainval", "test")) -> VocData:
    """Every split list present under ``ImageSets/Main`` and the records they name."""
    root = Path(root)
    split_ids = {s: read_split_ids(root, s) for s in splits if (root / "ImageSets" / "Main" / f"{s}.txt").exists()}
    if not split_ids:
        raise DataError(f"no split lists ({', '.join(splits)}) under {root / 'ImageSets' / 'Main'}")
    wanted = sorted({i for ids in split_ids.values() for i in ids})
    records = {i: parse_voc_xml(root / "Annotations" / f"{i}.xml") for i in wanted}
    # the class list is that of the per-class lists (<class>_<split>.txt), as in the VOCdevkit,
    # so a class with no object in some split still has its index
    main = root / "ImageSets" / "Main"
    listed = {p.name[: -len(f"_{s}.txt")] for s in split_ids for p in main.glob(f"*_{s}.txt")}
    class_names = sorted(listed) if listed else voc_class_names(list(records.values()))
    return VocData(class_names=class_names, split_ids=split_ids, records=records, root=root)


def voc_class_names(records: list[VocRecord]) -> list[str]:
    return sorted({obj.name for record in records for obj in record.objects})


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
            ET.SubElement(box, tag).text = str(int(round(value)))
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
