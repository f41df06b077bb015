"""CIFAR-10 / CIFAR-100 in the official "python version" layout (pickled batches).

CIFAR-10: ``cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}``; each batch is
a dict with ``data`` (N x 3072 uint8, channel-major R, G, B planes of 32 x 32) and
``labels``. CIFAR-100: ``cifar-100-python/{train, test, meta}`` with ``fine_labels`` and
``coarse_labels``. The shapes world is written in the CIFAR-10 layout (plus a sidecar with
its concept masks), so one reader serves both. Pickle is the official format; only open
folders you trust.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Literal

import numpy as np

from revis.atomic import atomic_directory
from revis.datasets.imageset import NPZ_ERRORS, DataError, ImageSet

CIFAR10_TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
CONCEPT_SIDECAR = "concepts.npz"
WORLD_RULES = "world.json"


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as handle:
            raw = pickle.load(handle, encoding="bytes")
    except FileNotFoundError:
        raise DataError(f"missing CIFAR file {path}") from None
    except Exception as exc:  # pickle raises many types on corrupt input
        raise DataError(f"cannot read CIFAR batch {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise DataError(f"CIFAR batch {path} is not a dict")
    return {key.decode() if isinstance(key, bytes) else key: value for key, value in raw.items()}


def _decode_rows(rows: np.ndarray, path: Path) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.uint8)
    side = round((rows.shape[1] / 3) ** 0.5)
    if rows.ndim != 2 or 3 * side * side != rows.shape[1]:
        raise DataError(f"CIFAR batch {path} has rows of length {rows.shape[1]}, expected 3*S*S")
    return rows.reshape(-1, 3, side, side).transpose(0, 2, 3, 1).copy()


def _labels(values: object, images: np.ndarray, classes: int, path: Path, key: str) -> np.ndarray:
    """``values`` as int64 labels, one per image and each naming a class; else a ``DataError`` naming the record."""
    try:
        labels = np.asarray(values, dtype=np.int64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise DataError(f"CIFAR batch {path}: '{key}' are not integers ({exc})") from None
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"CIFAR batch {path} holds {len(images)} images but {labels.size} '{key}'")
    bad = np.flatnonzero((labels < 0) | (labels >= classes))
    if bad.size:
        first = int(bad[0])
        raise DataError(
            f"CIFAR batch {path}: '{key}'[{first}] = {int(labels[first])} is outside 0..{classes - 1} "
            f"(the {classes} label names of the meta file); {bad.size} such label(s)"
        )
    return labels


def _names(values: list) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def read_cifar10(root: str | os.PathLike, split: Literal["train", "test"]) -> ImageSet:
    """Read a CIFAR-10-layout folder (real CIFAR-10 or the shapes world)."""
    root = Path(root)
    meta = _unpickle(root / "batches.meta")
    class_names = _names(meta["label_names"])
    batch_names = CIFAR10_TRAIN_BATCHES if split == "train" else ["test_batch"]
    batch_paths = [root / name for name in batch_names if (root / name).exists()]
    if not batch_paths:
        raise DataError(f"no {split} batches in {root}")
    images, labels = [], []
    for path in batch_paths:
        batch = _unpickle(path)
        if "data" not in batch or "labels" not in batch:
            raise DataError(f"CIFAR batch {path} lacks 'data' or 'labels'")
        images.append(_decode_rows(batch["data"], path))
        labels.append(_labels(batch["labels"], images[-1], len(class_names), path, "labels"))
    data = ImageSet(images=np.concatenate(images), labels=np.concatenate(labels), class_names=class_names)
    sidecar = root / CONCEPT_SIDECAR
    if sidecar.exists():
        _attach_concepts(data, sidecar, split)
    return data


def read_cifar100(
    root: str | os.PathLike, split: Literal["train", "test"], label: Literal["fine", "coarse"] = "fine"
) -> ImageSet:
    """Read the official ``cifar-100-python`` folder; ``label='coarse'`` gives the 20 superclasses."""
    root = Path(root)
    meta = _unpickle(root / "meta")
    batch = _unpickle(root / split)
    if "data" not in batch or f"{label}_labels" not in batch:
        raise DataError(f"CIFAR-100 file {root / split} lacks 'data' or '{label}_labels'")
    images = _decode_rows(batch["data"], root / split)
    class_names = _names(meta[f"{label}_label_names"])
    labels = _labels(batch[f"{label}_labels"], images, len(class_names), root / split, f"{label}_labels")
    return ImageSet(images=images, labels=labels, class_names=class_names)


def _attach_concepts(data: ImageSet, sidecar: Path, split: str) -> None:
    try:
        archive = np.load(sidecar, allow_pickle=False)
        width = data.images.shape[2]
        data.concept_names = [str(n) for n in archive["concept_names"]]
        data.concept_masks = np.unpackbits(archive[f"{split}_masks"], axis=-1, count=width).astype(bool)
        data.concept_presence = archive[f"{split}_presence"]
    except NPZ_ERRORS as exc:
        raise DataError(f"cannot read concept masks from {sidecar}: {type(exc).__name__}: {exc}") from exc
    if len(data.concept_masks) != len(data):
        raise DataError(f"{sidecar} holds {len(data.concept_masks)} {split} masks for {len(data)} images")


def write_cifar10(
    root: str | os.PathLike,
    train: ImageSet,
    test: ImageSet,
    batch_size: int = 10000,
    world: dict | None = None,
) -> None:
    """Write two splits in the CIFAR-10 python layout (atomically, as one directory).

    Concept masks, when present, go to a ``concepts.npz`` sidecar; ``world`` (the world's
    rules and metadata) to ``world.json``.
    """
    with atomic_directory(root) as tmp:
        for data in (train, test):
            if data.images.shape[3] != 3 or data.images.shape[1] != data.images.shape[2]:
                raise ValueError("the CIFAR layout stores square RGB images")
        meta = {b"label_names": [n.encode() for n in train.class_names], b"num_vis": 3 * train.image_size**2}
        _pickle(tmp / "batches.meta", meta)
        rows = lambda d: d.images.transpose(0, 3, 1, 2).reshape(len(d), -1)  # noqa: E731
        train_rows = rows(train)
        for i, start in enumerate(range(0, len(train), batch_size), start=1):
            stop = start + batch_size
            _pickle(
                tmp / f"data_batch_{i}",
                {
                    b"batch_label": f"training batch {i}".encode(),
                    b"labels": train.labels[start:stop].tolist(),
                    b"data": train_rows[start:stop],
                },
            )
        _pickle(
            tmp / "test_batch", {b"batch_label": b"testing batch", b"labels": test.labels.tolist(), b"data": rows(test)}
        )
        if train.concept_masks is not None and test.concept_masks is not None:
            with open(tmp / CONCEPT_SIDECAR, "wb") as handle:
                np.savez_compressed(
                    handle,
                    concept_names=np.array(train.concept_names, dtype=str),
                    train_masks=np.packbits(train.concept_masks, axis=-1),
                    test_masks=np.packbits(test.concept_masks, axis=-1),
                    train_presence=np.asarray(train.concept_presence),  # what savez makes of it
                    test_presence=np.asarray(test.concept_presence),
                )
        if world is not None:
            (tmp / WORLD_RULES).write_text(json.dumps(world, indent=2, sort_keys=True))


def read_world_rules(root: str | os.PathLike) -> dict:
    path = Path(root) / WORLD_RULES
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read world rules {path}: {exc}") from exc


def _pickle(path: Path, obj: dict) -> None:
    with open(path, "wb") as handle:
        pickle.dump(obj, handle, protocol=2)


def read_cifar100_concepts(root: str | os.PathLike, split: Literal["train", "test"]) -> ImageSet:
    """CIFAR-100 as a concept task (as in CT/CCT): the 20 superclasses are the classes and the
    100 fine classes the concepts, one present per image (image-level presence, no masks)."""
    coarse = read_cifar100(root, split, label="coarse")
    fine = read_cifar100(root, split, label="fine")
    presence = np.zeros((len(fine), len(fine.class_names)), dtype=bool)
    presence[np.arange(len(fine)), fine.labels] = True
    coarse.concept_names = list(fine.class_names)
    coarse.concept_presence = presence
    return coarse
