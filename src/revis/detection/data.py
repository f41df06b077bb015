"""The train pool and test split a detection pipeline runs on: the mini world or a local VOCdevkit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from revis.datasets.imageset import DataError
from revis.datasets.voc import VocData, VocRecord, VocReport, read_voc_folder


@dataclass
class DetectionSplits:
    train: list[VocRecord]
    test: list[VocRecord]
    class_names: list[str]
    report: VocReport = field(default_factory=VocReport)  # what the reader clipped or assumed


def _read(
    voc_root: Path, spec: str, report: VocReport, class_names: Sequence[str] | None
) -> tuple[list[VocRecord], list[str]]:
    """``"VOC2007/trainval"`` -> the records of that split of that year folder, and its classes."""
    if spec.count("/") != 1:
        raise DataError(f"with a VOCdevkit root, splits read '<year folder>/<split>', got {spec!r}")
    folder, split = spec.split("/")
    data = read_voc_folder(voc_root / folder, splits=(split,), class_names=class_names)
    report.add(data.report)
    return data.split(split), data.class_names


def detection_splits(
    world: VocData | None,
    voc_root: str | None,
    train_splits: Sequence[str],
    test_split: str,
    class_names: Sequence[str] | None = None,
) -> DetectionSplits:
    """With ``voc_root`` None: splits of ``world``; else e.g. VOC07+12 trainval and VOC07 test of a VOCdevkit.

    ``class_names``: a VOCdevkit's classes when it has no per-class lists (default: the 20 VOC classes).
    """
    if voc_root is None:
        if world is None:
            raise DataError("no VOC data: neither the world's folder nor a voc_root was given")
        return DetectionSplits(
            train=[r for split in train_splits for r in world.split(split)],
            test=world.split(test_split),
            class_names=list(world.class_names),
            report=world.report,
        )
    root = Path(voc_root).expanduser()
    if not root.is_dir():
        raise DataError(f"VOCdevkit folder {root} does not exist (csod.data.voc_root)")
    train: list[VocRecord] = []
    report = VocReport()
    pool_names: list[str] | None = None
    for spec in train_splits:
        records, names = _read(root, spec, report, class_names)
        if pool_names is not None and names != pool_names:
            raise DataError(f"{spec} lists classes {names}, the other train splits {pool_names}")
        pool_names = names
        train += records
    test, names = _read(root, test_split, report, class_names)
    if pool_names is not None and not set(names) <= set(pool_names):
        raise DataError(f"{test_split} has classes {sorted(set(names) - set(pool_names))} that no train split has")
    seen: set[str] = set()
    for record in train + test:
        if record.image_id in seen:
            raise DataError(f"image id {record.image_id} occurs twice across {[*train_splits, test_split]}")
        seen.add(record.image_id)
    return DetectionSplits(train=train, test=test, class_names=pool_names or names, report=report)
