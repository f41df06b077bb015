"""CUB-200-2011 in its official layout, with the 312 binary attributes as concepts.

``CUB_200_2011/`` holds ``images.txt`` (id, relative path under ``images/``),
``image_class_labels.txt`` (id, class id from 1), ``train_test_split.txt`` (id, 1 = train),
``classes.txt`` (class id, name), ``bounding_boxes.txt`` (id, x, y, width, height in pixels)
and ``attributes/image_attribute_labels.txt`` (image id, attribute id, is_present,
certainty id, time). The attribute names (``attributes.txt``: id, name) ship next to the
``CUB_200_2011`` folder in the official archive; the reader also looks inside it, and falls
back to ``attribute_<id>`` names. The official label file has a few lines with an extra
field; only the first three fields are read.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from revis.datasets.images import load_image
from revis.datasets.imageset import DataError, ImageSet


def _rows(path: Path, fields: int) -> list[list[str]]:
    """Whitespace-separated rows with at least ``fields`` fields (names may not contain spaces)."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise DataError(f"cannot read CUB file {path}: {exc}") from exc
    rows = []
    for number, line in enumerate(lines, start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < fields:
            raise DataError(f"{path} line {number}: expected {fields} fields, got {line!r}")
        rows.append(parts)
    return rows


def _ints(path: Path, rows: list[list[str]], columns: int) -> np.ndarray:
    try:
        return np.array([[int(value) for value in row[:columns]] for row in rows], dtype=np.int64).reshape(-1, columns)
    except ValueError as exc:
        raise DataError(f"{path}: non-integer field ({exc})") from exc


def _attribute_names(root: Path, count: int) -> list[str]:
    for candidate in (root / "attributes.txt", root / "attributes" / "attributes.txt", root.parent / "attributes.txt"):
        if candidate.is_file():
            names = {int(row[0]): row[1] for row in _rows(candidate, 2)}
            return [names.get(i, f"attribute_{i}") for i in range(1, count + 1)]
    return [f"attribute_{i}" for i in range(1, count + 1)]


def _by_id(path: Path, pairs: np.ndarray, ids: np.ndarray) -> np.ndarray:
    lookup = dict(zip(pairs[:, 0].tolist(), pairs[:, 1].tolist()))
    missing = [i for i in ids.tolist() if i not in lookup]
    if missing:
        raise DataError(f"{path} has no entry for image ids {missing[:5]}")
    return np.array([lookup[i] for i in ids.tolist()], dtype=np.int64)


def read_cub(
    root: str | os.PathLike,
    split: Literal["train", "test"],
    image_size: int = 224,
    crop_to_box: bool = True,
    progress: bool = True,
) -> ImageSet:
    """Read one split: RGB images resized to ``image_size`` (after cropping to the bird's box),
    class labels from 0, and the attributes as image-level concept presence (N, A)."""
    root = Path(root)
    images_file = root / "images.txt"
    paths = {int(row[0]): row[1] for row in _rows(images_file, 2)}
    ids = np.array(sorted(paths), dtype=np.int64)
    split_file = root / "train_test_split.txt"
    is_train = _by_id(split_file, _ints(split_file, _rows(split_file, 2), 2), ids).astype(bool)
    ids = ids[is_train if split == "train" else ~is_train]
    if len(ids) == 0:
        raise DataError(f"no {split} images listed in {split_file}")
    labels_file = root / "image_class_labels.txt"
    labels = _by_id(labels_file, _ints(labels_file, _rows(labels_file, 2), 2), ids) - 1
    classes_file = root / "classes.txt"
    classes = {int(row[0]): row[1] for row in _rows(classes_file, 2)}
    class_names = [classes[i] for i in range(1, max(classes) + 1)]
    if labels.min() < 0 or labels.max() >= len(class_names):
        raise DataError(f"{labels_file} holds class ids outside {classes_file}")

    attributes_file = root / "attributes" / "image_attribute_labels.txt"
    triples = _ints(attributes_file, _rows(attributes_file, 3), 3)
    count = int(triples[:, 1].max())
    row_of = {image_id: i for i, image_id in enumerate(ids.tolist())}
    presence = np.zeros((len(ids), count), dtype=bool)
    keep = np.array([image_id in row_of for image_id in triples[:, 0].tolist()])
    selected = triples[keep]
    presence[[row_of[i] for i in selected[:, 0].tolist()], selected[:, 1] - 1] = selected[:, 2] > 0

    boxes = {}
    if crop_to_box:
        boxes_file = root / "bounding_boxes.txt"
        for row in _rows(boxes_file, 5):
            try:
                boxes[int(row[0])] = tuple(float(v) for v in row[1:5])
            except ValueError as exc:
                raise DataError(f"{boxes_file}: bad box {row} ({exc})") from exc
    images = np.zeros((len(ids), image_size, image_size, 3), dtype=np.uint8)
    for i, image_id in enumerate(tqdm(ids.tolist(), desc=f"CUB {split}", disable=not progress, leave=False)):
        pixels = load_image(root / "images" / paths[image_id])
        if crop_to_box:
            if image_id not in boxes:
                raise DataError(f"{root / 'bounding_boxes.txt'} has no box for image {image_id}")
            x, y, w, h = boxes[image_id]
            top, left = max(0, int(y)), max(0, int(x))
            crop = pixels[top : max(top + 1, round(y + h)), left : max(left + 1, round(x + w))]
            pixels = crop if crop.size else pixels
        images[i] = np.asarray(Image.fromarray(pixels).resize((image_size, image_size), Image.Resampling.BILINEAR))
    return ImageSet(
        images=images,
        labels=labels,
        class_names=class_names,
        concept_names=_attribute_names(root, count),
        concept_presence=presence,
    )
