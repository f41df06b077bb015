"""scikit-learn's handwritten digits (real data shipped with the package), 8 x 8 grey images."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from revis.datasets.imageset import ImageSet


def sklearn_digits(test_fraction: float, seed: int) -> dict[str, ImageSet]:
    """Stratified train/test split; pixel values 0..16 are scaled to 0..255 uint8."""
    bunch = load_digits()
    images = np.clip(bunch.images * 16.0, 0, 255).astype(np.uint8)[..., None]
    labels = bunch.target.astype(np.int64)
    train_idx, test_idx = train_test_split(
        np.arange(len(labels)), test_size=test_fraction, random_state=seed, stratify=labels
    )
    names = [str(d) for d in range(10)]
    return {
        "train": ImageSet(images=images[np.sort(train_idx)], labels=labels[np.sort(train_idx)], class_names=names),
        "test": ImageSet(images=images[np.sort(test_idx)], labels=labels[np.sort(test_idx)], class_names=names),
    }
