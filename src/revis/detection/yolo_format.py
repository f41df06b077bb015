"""Pascal VOC records -> the layout ultralytics trains on (YOLO txt labels + a dataset yaml).

Layout under ``root``::

    images/<image_id>.<ext>   links to (or copies of) the VOC JPEGs
    labels/<image_id>.txt     one line per object: ``class cx cy w h``, normalised to [0, 1]
    lists/<name>.txt          absolute image paths of one split or subset
    <name>.yaml               ``path``/``train``/``val``/``test``/``names`` for ultralytics

ultralytics finds a label file by replacing the last ``/images/`` of an image path with
``/labels/``, so subsets are just list files over one shared folder.

Box convention (the 1-pixel question). VOC stores 1-based *inclusive* pixel corners; the
reader (``revis.datasets.voc``) returns the 0-based half-open box ``(xmin - 1, ymin - 1, xmax,
ymax)`` that covers exactly the annotated pixels (the VOC devkit's own area, ``xmax - xmin + 1``,
counts the same pixels). ultralytics' own VOC conversion (``ultralytics/cfg/datasets/VOC.yaml``,
``convert_box``) writes centre ``(xmin + xmax) / 2 - 1`` and width ``xmax - xmin``, i.e. the box
``[xmin - 1, xmax - 1]``: one pixel narrower than ours and its centre half a pixel to the left.
ultralytics trains and evaluates on these labels, so they follow ultralytics exactly (tested
against the code in VOC.yaml): in reader coordinates ``[x0, x1 - 1]``. Difficult objects are left
out, as that conversion does.

Nothing is dropped silently (ultralytics would): every image is decoded here first (an
unreadable or truncated file is an error naming it); a JPEG that decodes but does not end with
its end marker (trailing bytes; ultralytics "restores" such files by re-encoding them) is
copied with the marker appended; an image
under 10 px (which ultralytics ignores) is an error; a box one pixel wide or high (zero width in
ultralytics' convention, dropped by its augmentations) and exact duplicate rows (which
ultralytics removes) are left out here and counted in ``YoloDataset.report``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from revis.atomic import write_text_atomic
from revis.datasets.images import load_image
from revis.datasets.imageset import DataError
from revis.datasets.voc import VocRecord

MIN_IMAGE_SIDE = 10  # ultralytics ignores smaller images ("image size < 10 pixels")
JPEG_END = b"\xff\xd9"


@dataclass
class YoloReport:
    """What converting to YOLO labels left out or repaired (never silent)."""

    images: int = 0
    boxes: int = 0
    difficult_left_out: int = 0
    one_pixel_left_out: int = 0
    duplicates_left_out: int = 0
    jpeg_end_marker_added: int = 0
    examples: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        if len(self.examples) < 5:
            self.examples.append(text)

    def to_dict(self) -> dict[str, object]:
        return {
            "images": self.images,
            "boxes": self.boxes,
            "difficult_left_out": self.difficult_left_out,
            "one_pixel_left_out": self.one_pixel_left_out,
            "duplicates_left_out": self.duplicates_left_out,
            "jpeg_end_marker_added": self.jpeg_end_marker_added,
            "examples": list(self.examples),
        }


def yolo_label_lines(
    record: VocRecord, class_names: Sequence[str], include_difficult: bool = False, report: YoloReport | None = None
) -> list[str]:
    """YOLO label lines of one record (class index, normalised centre and size), ultralytics' convention."""
    index = {name: i for i, name in enumerate(class_names)}
    lines: list[str] = []
    for number, obj in enumerate(record.objects):
        if obj.name not in index:
            raise DataError(f"object class {obj.name!r} of image {record.image_id} is not one of {list(class_names)}")
        if obj.difficult and not include_difficult:
            if report is not None:
                report.difficult_left_out += 1
            continue
        x0, y0, x1, y1 = obj.box
        # ultralytics' VOC convention: [xmin - 1, xmax - 1] = [x0, x1 - 1] (see the module doc);
        # the reader has already clipped boxes to the image
        left, top = max(0.0, x0), max(0.0, y0)
        right, bottom = min(float(record.width), x1) - 1.0, min(float(record.height), y1) - 1.0
        if right <= left or bottom <= top:
            if report is not None:
                report.one_pixel_left_out += 1
                report.note(f"{record.image_id} object {number} ({obj.name}): one pixel wide or high, left out")
            continue
        cx, cy = (left + right) / 2 / record.width, (top + bottom) / 2 / record.height
        w, h = (right - left) / record.width, (bottom - top) / record.height
        line = f"{index[obj.name]} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}"
        if line in lines:
            if report is not None:
                report.duplicates_left_out += 1
                report.note(f"{record.image_id} object {number} ({obj.name}): duplicate box, left out")
            continue
        lines.append(line)
    if report is not None:
        report.boxes += len(lines)
    return lines


def yolo_line_to_box(line: str, width: int, height: int) -> tuple[int, tuple[float, float, float, float]]:
    """Inverse of one label line: (class index, the reader's 0-based half-open pixel box)."""
    cls, *fields = line.split()
    cx, cy, w, h = (float(v) for v in fields)
    cx, w = cx * width, w * width
    cy, h = cy * height, h * height
    return int(cls), (cx - w / 2, cy - h / 2, cx + w / 2 + 1.0, cy + h / 2 + 1.0)


@dataclass(frozen=True)
class YoloDataset:
    """A folder in ultralytics' layout; ``image_path(id)`` is what list files name."""

    root: Path
    class_names: tuple[str, ...]
    suffix: dict[str, str]  # image_id -> image file suffix
    report: YoloReport = field(default_factory=YoloReport, compare=False)

    def image_path(self, image_id: str) -> Path:
        return self.root / "images" / f"{image_id}{self.suffix[image_id]}"

    def write_list(self, name: str, image_ids: Iterable[str]) -> Path:
        path = self.root / "lists" / f"{name}.txt"
        write_text_atomic(path, "".join(f"{self.image_path(i)}\n" for i in image_ids))
        return path

    def write_yaml(self, name: str, train_ids: Iterable[str], val_ids: Iterable[str]) -> Path:
        """A dataset yaml training on ``train_ids`` and validating/testing on ``val_ids``."""
        train_list = self.write_list(f"{name}_train", train_ids)
        val_list = self.write_list(f"{name}_val", val_ids)
        document = {
            "path": str(self.root),
            "train": str(train_list),
            "val": str(val_list),
            "test": str(val_list),
            "names": dict(enumerate(self.class_names)),
        }
        path = self.root / f"{name}.yaml"
        write_text_atomic(path, yaml.safe_dump(document, sort_keys=False))
        return path


def _link_or_copy(source: Path, target: Path, append: bytes = b"") -> None:
    if target.is_symlink() or target.exists():
        target.unlink()
    if append:  # a repaired copy; the original stays untouched
        target.write_bytes(source.read_bytes() + append)
        return
    try:
        os.symlink(source.resolve(), target)
    except OSError:  # file systems without symlinks
        shutil.copy2(source, target)


def _check_image(record: VocRecord) -> bool:
    """Decode the image (naming it when unreadable); True when a JPEG lacks its end marker."""
    path = Path(record.image_path)
    pixels = load_image(path)  # DataError naming the file: missing, unreadable, truncated
    height, width = pixels.shape[:2]
    if min(height, width) < MIN_IMAGE_SIDE:
        raise DataError(f"image {path} is {width} x {height} px; ultralytics ignores images under {MIN_IMAGE_SIDE} px")
    if (width, height) != (record.width, record.height):
        raise DataError(f"image {path} is {width} x {height} px, its annotation says {record.width} x {record.height}")
    if path.suffix.lower() in (".jpg", ".jpeg"):
        with path.open("rb") as handle:
            handle.seek(-2, os.SEEK_END)
            return handle.read() != JPEG_END
    return False


def write_yolo_dataset(
    root: str | os.PathLike, records: Iterable[VocRecord], class_names: Sequence[str], include_difficult: bool = False
) -> YoloDataset:
    """Check and link every record's image and write its label file; idempotent (rewrites what is there)."""
    root = Path(root).resolve()
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    suffix: dict[str, str] = {}
    report = YoloReport()
    for record in records:
        if record.image_id in suffix:
            raise DataError(f"image id {record.image_id} appears twice (two VOC folders with the same ids?)")
        missing_end = _check_image(record)
        suffix[record.image_id] = Path(record.image_path).suffix
        target = root / "images" / f"{record.image_id}{suffix[record.image_id]}"
        _link_or_copy(Path(record.image_path), target, JPEG_END if missing_end else b"")
        if missing_end:
            report.jpeg_end_marker_added += 1
            report.note(f"{record.image_path}: JPEG not ending with its end marker, copied with the marker appended")
        lines = yolo_label_lines(record, class_names, include_difficult, report)
        report.images += 1
        # a scratch view, rebuilt by every stage that trains: plain writes (atomic ones glob the folder each time)
        (root / "labels" / f"{record.image_id}.txt").write_text("".join(f"{line}\n" for line in lines))
    return YoloDataset(root=root, class_names=tuple(class_names), suffix=suffix, report=report)
