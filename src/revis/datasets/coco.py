"""COCO JSON detection files ("instances" files): read, validate, remap file names and categories.

The reader takes a released file unchanged:

- ``file_name`` may be an absolute path on someone else's machine (the LADA release has
  ``/home/<user>/.../HPWREN-FIgLib-Data/<camera>/<file>.jpg``); it is remapped to a local image
  root by its trailing ``path_parts`` components (``<camera-folder>/<file>``);
- category ids are mapped to contiguous class indices starting at ``label_offset``: 0 for
  ultralytics (no background class), 1 for torchvision-style detectors whose label 0 is
  background -- LADA's single category has id 0, which must never reach such a detector as-is;
- images without annotations (negatives) are kept;
- every box goes through ``revis.datasets.boxes.check_box``: a non-positive size or a box
  entirely outside its image is a ``BoxError`` naming the file and the annotation id; a box
  overrunning the border (real releases contain them) is clipped and counted in ``report``
  up to ``max(max_overrun px, max_overrun_fraction x side)`` -- by default 8 px or 2 % of the
  side, which covers every overrun of the LADA release (at most 33 px of 3072, 1.3 % of
  2048; ``revis.datasets.boxes``) -- and an error beyond it;
- ``iscrowd`` must be 0 or 1 (``true``/``false`` too); anything else is an error naming the
  file and the annotation; with ``check_files`` each image must exist and have the declared
  size (errors name the JSON file, the image id and the image file).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from revis.datasets.boxes import (
    COCO_MAX_OVERRUN_FRACTION,
    DEFAULT_MAX_OVERRUN,
    BoxError,
    BoxReport,
    check_box,
)
from revis.datasets.imageset import DataError


@dataclass
class CocoImage:
    image_id: int
    file_name: str  # as written in the file
    path: Path | None  # the local image (None when read without an image root)
    width: int
    height: int
    boxes: np.ndarray  # float32 (n, 4): x0 y0 x1 y1 in pixels, clipped to the image
    classes: np.ndarray  # int64 (n,): detector class index (category rank + label_offset)
    ann_ids: list[int] = field(default_factory=list)
    raw_boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))  # (n, 4) [x, y, w, h] as written


@dataclass
class CocoDetections:
    source: Path
    images: list[CocoImage]
    categories: dict[int, str]  # category id -> name, sorted by id
    label_offset: int
    report: BoxReport

    @property
    def class_names(self) -> list[str]:
        """Names in class-index order (index ``label_offset`` first)."""
        return list(self.categories.values())

    def class_index(self, category_id: int) -> int:
        return list(self.categories).index(category_id) + self.label_offset

    def category_id(self, class_index: int) -> int:
        """The file's category id of a detector class index (to write predictions back in COCO form)."""
        return list(self.categories)[class_index - self.label_offset]

    def by_file(self) -> dict[str, CocoImage]:
        return {image.file_name: image for image in self.images}


def remap_file_name(file_name: str, image_root: str | os.PathLike, parts: int = 2) -> Path:
    """The local path of a released ``file_name``: ``image_root`` joined with its last ``parts`` components."""
    pure = PurePosixPath(file_name.replace("\\", "/"))
    tail = [p for p in pure.parts if p not in ("/", "")][-parts:]
    if len(tail) < parts or any(p in (".", "..") for p in tail):
        raise DataError(f"file_name {file_name!r} has no trailing <folder>/<file> part to remap")
    return Path(image_root).joinpath(*tail)


def _load_json(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"missing COCO label file {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"COCO label file {path} is not valid JSON: {exc}") from exc
    if not isinstance(document, dict) or not all(isinstance(document.get(k), list) for k in ("images", "categories")):
        raise DataError(f"{path} is not a COCO detection file (needs 'images' and 'categories' lists)")
    if not isinstance(document.get("annotations", []), list):
        raise DataError(f"{path}: 'annotations' is not a list")
    return document


def _image_size(path: Path, where: str) -> tuple[int, int]:
    try:
        with Image.open(path) as image:
            return image.size
    except FileNotFoundError:
        raise DataError(f"{where}: missing image file {path}") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"{where}: corrupt or unreadable image file {path}: {exc}") from exc


def _crowd_flag(value: Any, where: str) -> bool:
    """COCO's ``iscrowd``: 0 / 1 (or a JSON boolean); anything else is an error, never a guess."""
    if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
        return bool(value)
    if isinstance(value, float) and value in (0.0, 1.0):
        return bool(value)
    raise DataError(f"{where}: iscrowd is {value!r}; COCO allows 0 or 1")


def _read_categories(path: Path, document: dict[str, Any]) -> dict[int, str]:
    """Category id -> name, in id order."""
    try:
        categories = {int(c["id"]): str(c["name"]) for c in document["categories"]}
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{path}: malformed category entry ({exc})") from exc
    if not categories:
        raise DataError(f"{path} lists no categories")
    return dict(sorted(categories.items()))


def _read_images(path: Path, document: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """Image id -> file name, size and an empty annotation list; ids and file names unique, sizes positive."""
    images: dict[int, dict[str, Any]] = {}
    files: set[str] = set()
    for entry in document["images"]:
        try:
            image_id, width, height, file_name = (
                int(entry["id"]),
                int(entry["width"]),
                int(entry["height"]),
                str(entry["file_name"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{path}: malformed image entry {entry!r} ({exc})") from exc
        if image_id in images:
            raise DataError(f"{path}: image id {image_id} occurs twice")
        if file_name in files:
            raise DataError(f"{path}: file_name {file_name} occurs twice")
        if width <= 0 or height <= 0:
            raise DataError(f"{path}: image {image_id} ({file_name}) has size {width} x {height}")
        files.add(file_name)
        images[image_id] = {"file_name": file_name, "width": width, "height": height, "anns": []}
    return images


def _attach_annotations(
    path: Path, document: dict[str, Any], images: dict[int, dict[str, Any]], categories: dict[int, str]
) -> None:
    """Append each non-crowd annotation ``(ann_id, category_id, bbox)`` to its image's list."""
    seen_ann: set[int] = set()
    for ann in document.get("annotations", []):
        try:
            ann_id, image_id, category_id = int(ann["id"]), int(ann["image_id"]), int(ann["category_id"])
            bbox = [float(v) for v in ann["bbox"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{path}: malformed annotation {ann!r} ({exc})") from exc
        if ann_id in seen_ann:
            raise DataError(f"{path}: annotation id {ann_id} occurs twice")
        seen_ann.add(ann_id)
        if image_id not in images:
            raise DataError(f"{path}: annotation {ann_id} refers to image {image_id}, which the file does not list")
        if category_id not in categories:
            raise DataError(f"{path}: annotation {ann_id} has category {category_id}, not one of {list(categories)}")
        if len(bbox) != 4:
            raise BoxError(f"{path.name}, annotation {ann_id}: bbox {bbox} is not [x, y, w, h]")
        if _crowd_flag(ann.get("iscrowd", 0), f"{path}: annotation {ann_id} (image {image_id})"):
            continue  # crowd regions are not objects to detect (COCOeval ignores them too)
        images[image_id]["anns"].append((ann_id, category_id, bbox))


def _check_image_file(path: Path, image_id: int, entry: dict[str, Any], local: Path) -> None:
    """The image file's real size equals the size the JSON declares."""
    size = _image_size(local, f"{path}: image {image_id} ({entry['file_name']})")
    if size != (entry["width"], entry["height"]):
        raise DataError(
            f"{path}: image {image_id} is declared {entry['width']} x {entry['height']} "
            f"but {local} is {size[0]} x {size[1]}"
        )


def read_coco_detections(
    path: str | os.PathLike,
    image_root: str | os.PathLike | None = None,
    *,
    path_parts: int = 2,
    label_offset: int = 0,
    max_overrun: float = DEFAULT_MAX_OVERRUN,
    max_overrun_fraction: float = COCO_MAX_OVERRUN_FRACTION,
    check_files: bool = True,
) -> CocoDetections:
    """Read one COCO detection file; boxes validated and clipped, negatives kept, ids remapped (module doc)."""
    path = Path(path)
    document = _load_json(path)
    categories = _read_categories(path, document)
    rank = {cid: i for i, cid in enumerate(categories)}

    images = _read_images(path, document)
    _attach_annotations(path, document, images, categories)

    report = BoxReport()
    out: list[CocoImage] = []
    for image_id, entry in images.items():
        local = remap_file_name(entry["file_name"], image_root, path_parts) if image_root is not None else None
        if local is not None and check_files:
            _check_image_file(path, image_id, entry, local)
        boxes, classes, ann_ids, raw = [], [], [], []
        for ann_id, category_id, (x, y, w, h) in entry["anns"]:
            where = f"{path.name}, annotation {ann_id} (image {image_id}, {PurePosixPath(entry['file_name']).name})"
            boxes.append(
                check_box(
                    (x, y, x + w, y + h),
                    entry["width"],
                    entry["height"],
                    where=where,
                    max_overrun=max_overrun,
                    max_overrun_fraction=max_overrun_fraction,
                    report=report,
                )
            )
            classes.append(rank[category_id] + label_offset)
            ann_ids.append(ann_id)
            raw.append((x, y, w, h))
        out.append(
            CocoImage(
                image_id=image_id,
                file_name=entry["file_name"],
                path=local,
                width=entry["width"],
                height=entry["height"],
                boxes=np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
                classes=np.asarray(classes, dtype=np.int64),
                ann_ids=ann_ids,
                raw_boxes=np.asarray(raw, dtype=np.float64).reshape(-1, 4),
            )
        )
    return CocoDetections(source=path, images=out, categories=categories, label_offset=label_offset, report=report)
