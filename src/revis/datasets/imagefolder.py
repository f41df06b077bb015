"""ImageNet-format folders: torchvision's ImageFolder layout ``root/<class>/<image>``.

ImageNet's validation set sorted into class folders (``val/n01440764/ILSVRC2012_val_*.JPEG``)
is the usual form. torchvision's ``ImageFolder`` indexes the folder (classes sorted by name,
images by path); every file is decoded with ``revis.datasets.images.load_image`` (an
unreadable file is an error naming it) and brought to ``image_size`` the standard evaluation
way: shorter side resized to ``image_size x 256/224``, then a centre crop.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from revis.datasets.images import load_image
from revis.datasets.imageset import DataError, ImageSet


def index_image_folder(root: str | os.PathLike) -> tuple[list[str], list[tuple[str, int]]]:
    """Class names and (path, class index) pairs of an ImageFolder tree."""
    from torchvision.datasets import ImageFolder  # here: torchvision pulls in torch._dynamo (seconds per process)

    root = Path(root)
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist")
    try:
        folder = ImageFolder(str(root), loader=lambda path: path)  # index only; decoding is ours
    except (FileNotFoundError, RuntimeError) as exc:
        raise DataError(f"{root} is not an ImageFolder tree (root/<class>/<image>): {exc}") from exc
    return list(folder.classes), [(str(path), int(label)) for path, label in folder.samples]


def _resize_crop(image: np.ndarray, image_size: int) -> np.ndarray:
    import torchvision.transforms.v2.functional as TF  # here, as ImageFolder above

    tensor = torch.from_numpy(np.ascontiguousarray(image).copy()).permute(2, 0, 1)
    tensor = TF.resize(tensor, [round(image_size * 256 / 224)], antialias=True)
    tensor = TF.center_crop(tensor, [image_size, image_size])
    return tensor.permute(1, 2, 0).numpy()


def read_image_folder(
    root: str | os.PathLike, image_size: int, per_class: int | None = None, seed: int = 0
) -> ImageSet:
    """Read an ImageFolder tree into an ``ImageSet`` of ``image_size`` squares.

    ``per_class`` keeps at most that many images per class (a seeded draw), so that a large
    folder such as ImageNet-val fits in memory.
    """
    classes, samples = index_image_folder(root)
    rng = np.random.default_rng(seed)
    chosen: list[tuple[str, int]] = []
    for label in range(len(classes)):
        members = [s for s in samples if s[1] == label]
        if per_class is not None and len(members) > per_class:
            members = [members[i] for i in sorted(rng.choice(len(members), per_class, replace=False))]
        chosen += members
    if not chosen:
        raise DataError(f"no images in {root}")
    images = np.zeros((len(chosen), image_size, image_size, 3), dtype=np.uint8)
    for i, (path, _) in enumerate(tqdm(chosen, desc=f"reading {Path(root).name}", leave=False)):
        images[i] = _resize_crop(load_image(path), image_size)
    return ImageSet(images=images, labels=np.array([label for _, label in chosen]), class_names=classes)
