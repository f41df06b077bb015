"""The in-memory form every image-classification reader returns.

Images are uint8 arrays (N, H, W, C); models receive float tensors (N, C, H, W) in [0, 1].
Concept annotations (per-pixel masks and per-image presence) are optional: the shapes world
has them, CIFAR and digits do not.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from revis.atomic import atomic_file

if TYPE_CHECKING:
    import torch


class DataError(ValueError):
    """An input file that cannot be read; the message names the file."""


@dataclass
class ImageSet:
    images: np.ndarray  # uint8 (N, H, W, C)
    labels: np.ndarray  # int64 (N,)
    class_names: list[str]
    concept_names: list[str] = field(default_factory=list)
    concept_masks: np.ndarray | None = None  # bool (N, K, H, W)
    concept_presence: np.ndarray | None = None  # bool (N, K)

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 (N, H, W, C), got {self.images.dtype} {self.images.shape}")
        if len(self.labels) != len(self.images):
            raise ValueError("images and labels differ in length")
        self.labels = self.labels.astype(np.int64)
        if self.concept_masks is not None and self.concept_masks.shape[:2] != (len(self), len(self.concept_names)):
            raise ValueError("concept_masks must be (N, K, H, W) with K = len(concept_names)")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def channels(self) -> int:
        return int(self.images.shape[3])

    @property
    def image_size(self) -> int:
        return int(self.images.shape[1])

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Float images (N, C, H, W) in [0, 1] and int64 labels."""
        import torch  # here: readers of image files run without torch

        x = torch.from_numpy(self.images).permute(0, 3, 1, 2).float().div_(255.0)
        return x.contiguous(), torch.from_numpy(self.labels)

    def subset(self, index: np.ndarray | list[int]) -> ImageSet:
        index = np.asarray(index, dtype=np.int64)
        return ImageSet(
            images=self.images[index],
            labels=self.labels[index],
            class_names=list(self.class_names),
            concept_names=list(self.concept_names),
            concept_masks=None if self.concept_masks is None else self.concept_masks[index],
            concept_presence=None if self.concept_presence is None else self.concept_presence[index],
        )


# what numpy raises for a truncated or corrupt .npz (a zip of .npy files)
NPZ_ERRORS = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error)


def save_imagesets_npz(path: str | os.PathLike, splits: dict[str, ImageSet]) -> None:
    """Write named splits into one compressed .npz (atomically)."""
    arrays: dict[str, np.ndarray] = {}
    for split, data in splits.items():
        arrays[f"{split}/images"] = data.images
        arrays[f"{split}/labels"] = data.labels
        arrays[f"{split}/class_names"] = np.array(data.class_names)
        arrays[f"{split}/concept_names"] = np.array(data.concept_names, dtype=str)
        if data.concept_masks is not None:
            arrays[f"{split}/concept_masks"] = np.packbits(data.concept_masks, axis=-1)
            arrays[f"{split}/concept_masks_width"] = np.array(data.concept_masks.shape[-1])
        if data.concept_presence is not None:
            arrays[f"{split}/concept_presence"] = data.concept_presence
    with atomic_file(path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as allow_pickle


def load_imagesets_npz(path: str | os.PathLike) -> dict[str, ImageSet]:
    path = Path(path)
    try:
        archive = np.load(path, allow_pickle=False)
        keys = set(archive.files)
        splits = sorted({key.split("/")[0] for key in keys})
        out = {}
        for split in splits:
            masks = None
            if f"{split}/concept_masks" in keys:
                width = int(archive[f"{split}/concept_masks_width"])
                masks = np.unpackbits(archive[f"{split}/concept_masks"], axis=-1, count=width).astype(bool)
            out[split] = ImageSet(
                images=archive[f"{split}/images"],
                labels=archive[f"{split}/labels"],
                class_names=[str(n) for n in archive[f"{split}/class_names"]],
                concept_names=[str(n) for n in archive[f"{split}/concept_names"]],
                concept_masks=masks,
                concept_presence=archive[f"{split}/concept_presence"] if f"{split}/concept_presence" in keys else None,
            )
        return out
    except NPZ_ERRORS as exc:
        raise DataError(f"cannot read image arrays from {path}: {type(exc).__name__}: {exc}") from exc
