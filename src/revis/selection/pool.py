"""What a selector sees: one representative vector per (image, class) present in the image.

Stored sparsely, one row per (image, class) pair -- an image holds few of the classes, so
a dense (images x classes x d) array would be mostly zeros at VOC scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


@dataclass
class SelectionPool:
    image_ids: list[str]
    class_names: list[str]
    image_index: np.ndarray  # (m,) int: which image each row belongs to
    class_index: np.ndarray  # (m,) int: which class
    vectors: torch.Tensor  # (m, d) float: the (image, class) representative vectors p_{i,c}
    box_counts: np.ndarray  # (m,) int: boxes of that class in that image

    def __post_init__(self) -> None:
        self.image_index = np.asarray(self.image_index, dtype=np.int64)
        self.class_index = np.asarray(self.class_index, dtype=np.int64)
        self.box_counts = np.asarray(self.box_counts, dtype=np.int64)
        self.vectors = torch.as_tensor(self.vectors, dtype=torch.float32)
        m = len(self.image_index)
        if not (len(self.class_index) == len(self.box_counts) == self.vectors.shape[0] == m):
            raise ValueError("image_index, class_index, box_counts and vectors need one entry per row")
        if m and (self.image_index.max() >= len(self.image_ids) or self.class_index.max() >= len(self.class_names)):
            raise ValueError("row indices point past image_ids / class_names")
        pairs = self.image_index * max(len(self.class_names), 1) + self.class_index
        if len(np.unique(pairs)) != m:
            raise ValueError("each (image, class) pair may have one row only")

    @property
    def n_images(self) -> int:
        return len(self.image_ids)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def unit_vectors(self) -> torch.Tensor:
        """Rows scaled to unit length, so dot products are cosine similarities."""
        return torch.nn.functional.normalize(self.vectors, dim=1)

    def image_vectors(self) -> torch.Tensor:
        """(n_images, d) unit mean of each image's unit class vectors; zero for images without objects."""
        out = torch.zeros(self.n_images, self.vectors.shape[1])
        out.index_add_(0, torch.as_tensor(self.image_index), self.unit_vectors())
        return torch.nn.functional.normalize(out, dim=1)

    def presence(self) -> np.ndarray:
        """(n_images, n_classes) bool: class present in image."""
        present = np.zeros((self.n_images, self.n_classes), dtype=bool)
        present[self.image_index, self.class_index] = True
        return present

    def boxes(self) -> np.ndarray:
        """(n_images, n_classes) int: boxes per class per image."""
        counts = np.zeros((self.n_images, self.n_classes), dtype=np.int64)
        counts[self.image_index, self.class_index] = self.box_counts
        return counts

    def to_dict(self) -> dict[str, Any]:
        """Plain tensors/lists (``torch.load(weights_only=True)`` can read it back)."""
        return {
            "image_ids": list(self.image_ids),
            "class_names": list(self.class_names),
            "image_index": torch.as_tensor(self.image_index),
            "class_index": torch.as_tensor(self.class_index),
            "vectors": self.vectors,
            "box_counts": torch.as_tensor(self.box_counts),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SelectionPool:
        return cls(
            image_ids=list(data["image_ids"]),
            class_names=list(data["class_names"]),
            image_index=np.asarray(data["image_index"]),
            class_index=np.asarray(data["class_index"]),
            vectors=torch.as_tensor(data["vectors"]),
            box_counts=np.asarray(data["box_counts"]),
        )
