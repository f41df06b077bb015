"""Pascal VOC records -> the layout ultralytics trains on (YOLO txt labels + a dataset yaml).

Layout under ``root``::

    images/<image_id>.<ext>   links to (or copies of) the VOC JPEGs
    labels/<image_id>.txt     one line per object: ``class cx cy w h``, normalised to [0, 1]
    lists/<name>.txt          absolute image paths of one split or subset
    <name>.yaml               ``path``/``train``/``val``/``test``/``names`` for ultralytics

ultralytics finds a label file by replacing the last ``/images/`` of an image path with
``/labels/``, so subsets are just list files over one shared folder. VOC boxes arrive 0-based
half-open ``(x0, y0, x1, y1)`` (see ``revis.datasets.voc``), so the centre is ``(x0 + x1) / 2``
and the width ``x1 - x0`` with no +-1 correction. Difficult objects are left out, as
ultralytics' own VOC conversion does.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from revis.atomic import write_text_atomic
from revis.datasets.imageset import DataError
from revis.datasets.voc import VocRecord


def yolo_label_lines(record: VocRecord, class_names: Sequence[str], include_difficult: bool = False) -> list[str]:
    """YOLO label lines of one record (class index, normalised centre and size)."""
    index = {name: i for i, name in enumerate(class_names)}
    lines = []
    for obj in record.objects:
        if obj.difficult and not include_difficult:
            continue
        if obj.name not in index:
            raise DataError(f"object class {obj.name!r} of image {record.image_id} is not one of {list(class_names)}")
        x0, y0, x1, y1 = obj.box
        x0, x1 = max(0.0, x0), min(float(record.width), x1)  # VOC boxes may touch or pass the border by a pixel
        y0, y1 = max(0.0, y0), min(float(record.height), y1)
        cx, cy = (x0 + x1) / 2 / record.width, (y0 + y1) / 2 / record.height
        w, h = (x1 - x0) / record.width, (y1 - y0) / record.height
        lines.append(f"{index[obj.name]} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
    return lines


def yolo_line_to_box(line: str, width: int, height: int) -> tuple[int, tuple[float, float, float, float]]:
    """Inverse of one label line: (class index, 0-based half-open pixel box)."""
    cls, cx, cy, w, h = line.split()
    cx, w = float(cx) * width, float(w) * width
    cy, h = float(cy) * height, float(h) * height
    return int(cls), (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


@dataclass(frozen=True)
class YoloDataset:
    """A folder in ultralytics' layout; ``image_path(id)`` is what list files name."""

    root: Path
    class_names: tuple[str, ...]
    suffix: dict[str, str]  # image_id -> image file suffix

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


def _link_or_copy(source: Path, target: Path) -> None:
    if target.is_symlink() or target.exists():
        target.unlink()
    try:
        os.symlink(source.resolve(), target)
    except OSError:  # file systems without symlinks
        shutil.copy2(source, target)


def write_yolo_dataset(
    root: str | os.PathLike, records: Iterable[VocRecord], class_names: Sequence[str], include_difficult: bool = False
) -> YoloDataset:
    """Link every record's image and write its label file; idempotent (rewrites what is there)."""
    root = Path(root).resolve()
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    suffix: dict[str, str] = {}
    for record in records:
        if record.image_id in suffix:
            raise DataError(f"image id {record.image_id} appears twice (two VOC folders with the same ids?)")
        if not Path(record.image_path).is_file():
            raise DataError(f"missing image file {record.image_path}")
        suffix[record.image_id] = Path(record.image_path).suffix
        _link_or_copy(Path(record.image_path), root / "images" / f"{record.image_id}{suffix[record.image_id]}")
        lines = yolo_label_lines(record, class_names, include_difficult)
        # a scratch view, rebuilt by every stage that trains: plain writes (atomic ones glob the folder each time)
        (root / "labels" / f"{record.image_id}.txt").write_text("".join(f"{line}\n" for line in lines))
    return YoloDataset(root=root, class_names=tuple(class_names), suffix=suffix)
