"""The LADA label release (BloomBerry/LADA): file names, exact JSON layout, label-policy statistics.

The release holds COCO JSON label files only (images come from the public HPWREN FIgLib):

=================================  ======================================================
``hpwren_source.json``             source domain (9 HPWREN scenes), *merged* policy
``hpwren_source_original.json``    the same images, *fragment* boxes (one per smoke part)
``target_label_{0.5,1.0,3.0}%``    labeled target splits (``.json`` merged, ``_original``)
``hpwren_target_test.json``        target test split (merged policy only)
=================================  ======================================================

Two layouts occur, and this module writes both exactly as released:

- merged files: top-level ``images, annotations, categories``; annotation keys ``id,
  image_id, bbox, area, category_id, iscrowd`` (``area`` from the unrounded box, so it
  differs slightly from ``w * h``);
- ``_original`` files: ``info, licenses, categories, images, annotations``; annotation keys
  ``id, image_id, category_id, segmentation ([]), area (= w * h), bbox, iscrowd``.

Images are ``{id, width, height, file_name}`` with ``file_name`` an absolute path on the
annotators' machine (``.../HPWREN-FIgLib-Data/<camera-folder>/<unix>_<offset>.jpg``); ids
count from 1; the one category is ``{"supercategory": "WildfireDataset", "id": 0, "name":
"smoke"}``; images without smoke (negatives) have no annotation. Boxes are integer pixels.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from revis.datasets.boxes import COCO_MAX_OVERRUN_FRACTION, DEFAULT_MAX_OVERRUN
from revis.datasets.coco import CocoDetections, read_coco_detections

Policy = Literal["merged", "fragment"]
# split key -> file stem of the release
RELEASE_STEMS = {
    "source": "hpwren_source",
    "target_0.5": "target_label_0.5%",
    "target_1": "target_label_1.0%",
    "target_3": "target_label_3.0%",
    "test": "hpwren_target_test",
    # the smoke world only (the release has no such files): held-out source frames, held-out target cameras
    "source_test": "hpwren_source_test",
    "test_heldout": "hpwren_target_test_heldout",
}
CATEGORY = {"supercategory": "WildfireDataset", "id": 0, "name": "smoke"}
INFO = {"description": "Alchera AAL Wildfire Dataset", "year": 2024}


def release_file(label_dir: str | os.PathLike, split: str, policy: Policy = "merged") -> Path:
    """``<label_dir>/<stem>.json`` (merged) or ``<stem>_original.json`` (fragment) of a release split."""
    stem = RELEASE_STEMS.get(split, split)
    return Path(label_dir) / (f"{stem}.json" if policy == "merged" else f"{stem}_original.json")


@dataclass(frozen=True)
class LabeledImage:
    """One image to write: its absolute file name (as on the annotators' disk), size and boxes."""

    file_name: str
    width: int
    height: int
    boxes: Sequence[tuple[float, float, float, float]]  # (x0, y0, x1, y1), unrounded, may overrun


def _int_box(box: tuple[float, float, float, float]) -> list[int]:
    x0, y0, x1, y1 = (round(float(v)) for v in box)
    return [x0, y0, max(1, x1 - x0), max(1, y1 - y0)]


def release_document(images: Sequence[LabeledImage], policy: Policy) -> dict[str, Any]:
    """The COCO JSON document of one split, in the release's layout for ``policy``."""
    image_entries: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_id, image in enumerate(images, start=1):
        image_entries.append(
            {"id": image_id, "width": image.width, "height": image.height, "file_name": image.file_name}
        )
        for box in image.boxes:
            bbox = _int_box(box)
            ann_id = len(annotations) + 1
            if policy == "merged":
                area = round(float((box[2] - box[0]) * (box[3] - box[1])))
                annotations.append(
                    {"id": ann_id, "image_id": image_id, "bbox": bbox, "area": area, "category_id": 0, "iscrowd": 0}
                )
            else:
                annotations.append(
                    {
                        "id": ann_id,
                        "image_id": image_id,
                        "category_id": 0,
                        "segmentation": [],
                        "area": bbox[2] * bbox[3],
                        "bbox": bbox,
                        "iscrowd": 0,
                    }
                )
    if policy == "merged":
        return {"images": image_entries, "annotations": annotations, "categories": [dict(CATEGORY)]}
    return {
        "info": dict(INFO),
        "licenses": [],
        "categories": [dict(CATEGORY)],
        "images": image_entries,
        "annotations": annotations,
    }


def dump_release_json(document: dict[str, Any]) -> str:
    """The release's formatting: 4-space indent, keys in document order, a final newline-free brace."""
    return json.dumps(document, indent=4)


# ---------------------------------------------------------------------------------------------
# label-policy statistics


def _raw_sizes(data: CocoDetections) -> np.ndarray:
    sizes = [image.raw_boxes[:, 2:4] for image in data.images if len(image.raw_boxes)]
    return np.concatenate(sizes) if sizes else np.zeros((0, 2))


def _policy_numbers(data: CocoDetections) -> dict[str, Any]:
    boxes = sum(len(image.raw_boxes) for image in data.images)
    positives = sum(1 for image in data.images if len(image.raw_boxes))
    sizes = _raw_sizes(data)
    return {
        "images": len(data.images),
        "positive_images": positives,
        "negative_images": len(data.images) - positives,
        "boxes": boxes,
        "boxes_per_positive_image": boxes / positives if positives else 0.0,
        "median_width": float(np.median(sizes[:, 0])) if len(sizes) else 0.0,
        "median_height": float(np.median(sizes[:, 1])) if len(sizes) else 0.0,
        "clipped_boxes": data.report.clipped,
    }


def label_policy_statistics(merged: CocoDetections, fragment: CocoDetections) -> dict[str, Any]:
    """Boxes per positive image, fragment/merged box-count ratio, median box width and height (file pixels).

    Widths and heights are those written in the files (before the reader clips border
    overruns), so the numbers are the files' own. Both files must list the same images.
    """
    names = [image.file_name for image in merged.images]
    if sorted(names) != sorted(image.file_name for image in fragment.images):
        raise ValueError(f"{merged.source.name} and {fragment.source.name} do not list the same images")
    m, f = _policy_numbers(merged), _policy_numbers(fragment)
    return {
        "merged": m,
        "fragment": f,
        "box_count_ratio": f["boxes"] / m["boxes"] if m["boxes"] else None,
        "median_width_ratio": m["median_width"] / f["median_width"] if f["median_width"] else None,
    }


def release_statistics(
    label_dir: str | os.PathLike,
    image_root: str | os.PathLike | None = None,
    splits: Sequence[str] = ("source",),
    *,
    max_overrun: float = DEFAULT_MAX_OVERRUN,
    max_overrun_fraction: float = COCO_MAX_OVERRUN_FRACTION,
) -> dict[str, Any]:
    """``label_policy_statistics`` for each split that has both files in ``label_dir`` (real or world release).

    ``image_root`` None reads the labels without looking for the images (statistics need none);
    ``max_overrun`` / ``max_overrun_fraction``: the reader's overrun bound (the defaults cover the release).
    """
    stats: dict[str, Any] = {}
    check = image_root is not None
    for split in splits:
        merged_path, fragment_path = (
            release_file(label_dir, split, "merged"),
            release_file(label_dir, split, "fragment"),
        )
        if not (merged_path.is_file() and fragment_path.is_file()):
            continue
        merged, fragment = (
            read_coco_detections(
                p, image_root, check_files=check, max_overrun=max_overrun, max_overrun_fraction=max_overrun_fraction
            )
            for p in (merged_path, fragment_path)
        )
        stats[split] = label_policy_statistics(merged, fragment)
    return stats


# ---------------------------------------------------------------------------------------------
# the unlabeled target pool of the real release


def unlabeled_pool_document(
    label_dir: str | os.PathLike,
    image_root: str | os.PathLike,
    *,
    max_overrun: float = DEFAULT_MAX_OVERRUN,
    max_overrun_fraction: float = COCO_MAX_OVERRUN_FRACTION,
) -> dict[str, Any]:
    """A COCO file (images only) of the target train pool of the real data: every ``.jpg`` under ``image_root``
    that is not in a source scene (a camera folder of ``hpwren_source.json``), not a labeled target image and
    not a test image. The release does not list its unlabeled pool; this is our reading of its protocol.
    """
    from PIL import Image

    from revis.datasets.coco import read_coco_detections

    def tails(split: str) -> set[str]:
        path = release_file(label_dir, split, "merged")
        data = read_coco_detections(
            path, None, check_files=False, max_overrun=max_overrun, max_overrun_fraction=max_overrun_fraction
        )
        return {"/".join(image.file_name.replace("\\", "/").split("/")[-2:]) for image in data.images}

    source_folders = {t.split("/")[0] for t in tails("source")}
    taken = set().union(*(tails(s) for s in RELEASE_STEMS if s != "source" and release_file(label_dir, s).is_file()))
    root = Path(image_root)
    images = []
    for path in sorted(root.glob("*/*.jpg")):
        tail = f"{path.parent.name}/{path.name}"
        if path.parent.name in source_folders or tail in taken:
            continue
        with Image.open(path) as image:
            width, height = image.size
        images.append(LabeledImage(str(path), width, height, []))
    return release_document(images, "merged")


def main(argv: list[str] | None = None) -> int:
    """``python -m revis.datasets.lada unlabeled --labels <BloomBerry/LADA> --images <HPWREN-FIgLib-Data> --out <file>``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m revis.datasets.lada", description=main.__doc__)
    parser.add_argument("command", choices=["unlabeled", "stats"])
    parser.add_argument("--labels", required=True, help="folder with the release's label files")
    parser.add_argument("--images", help="the local HPWREN-FIgLib-Data folder")
    parser.add_argument("--out", help="where to write the unlabeled pool (COCO JSON)")
    args = parser.parse_args(argv)
    if args.command == "stats":
        print(json.dumps(release_statistics(args.labels, None, tuple(RELEASE_STEMS)), indent=2))
        return 0
    if not (args.images and args.out):
        parser.error("unlabeled needs --images and --out")
    document = unlabeled_pool_document(args.labels, args.images)
    Path(args.out).write_text(dump_release_json(document))
    print(f"{len(document['images'])} unlabeled target images -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
