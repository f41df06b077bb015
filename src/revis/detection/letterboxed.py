"""Detection images letterboxed to one square size, with their boxes in canvas pixels.

Letterboxing as ultralytics does at inference: the long side is scaled to ``imgsz``, the
image centred on a grey (114) canvas. Mixed frame sizes (LADA's 2048 x 1536, 3072 x 2048,
...) therefore share one tensor; ``to_original`` maps canvas boxes back to the file's pixels
for COCO evaluation.

``images`` is either a uint8 tensor held in memory (``letterbox_coco``: decoded once) or a lazy
:class:`LazyImages` that decodes the rows it is indexed with (``revis.detection.streamed``: the
unlabeled target pool, too large for RAM at paper scale); indexing either with a list, a tensor
or a slice gives the same uint8 (B, 3, S, S) batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from PIL import Image

from revis.datasets.coco import CocoDetections, CocoImage
from revis.datasets.images import load_image


class LazyImages(Protocol):
    """uint8 (N, 3, S, S) images decoded on demand (``revis.detection.streamed.StreamedImages``)."""

    @property
    def shape(self) -> tuple[int, int, int, int]: ...

    def __len__(self) -> int: ...

    def __getitem__(self, index: Any) -> torch.Tensor: ...

    def select(self, indices: Any) -> LazyImages: ...


Images = torch.Tensor | LazyImages


@dataclass
class LetterboxedSet:
    images: Images  # uint8 (N, 3, S, S), in memory or streamed
    boxes: list[torch.Tensor]  # per image float32 (n, 4) x0 y0 x1 y1, canvas pixels
    classes: list[torch.Tensor]  # per image int64 (n,)
    scale: torch.Tensor  # float32 (N,): canvas pixels per file pixel
    pad: torch.Tensor  # float32 (N, 2): (left, top) offset of the image on the canvas
    image_ids: list[int]  # the COCO file's image ids
    file_names: list[str]

    def __len__(self) -> int:
        return len(self.image_ids)

    @property
    def imgsz(self) -> int:
        return int(self.images.shape[-1])

    @property
    def streamed(self) -> bool:
        return not isinstance(self.images, torch.Tensor)

    def subset(self, indices: Sequence[int]) -> LetterboxedSet:
        """The rows ``indices``; of a streamed set a view (nothing decoded or copied), of a tensor a copy."""
        idx = list(indices)
        images = self.images[idx] if isinstance(self.images, torch.Tensor) else self.images.select(idx)
        return LetterboxedSet(
            images=images,
            boxes=[self.boxes[i] for i in idx],
            classes=[self.classes[i] for i in idx],
            scale=self.scale[idx],
            pad=self.pad[idx],
            image_ids=[self.image_ids[i] for i in idx],
            file_names=[self.file_names[i] for i in idx],
        )

    def to_original(self, index: int, boxes: torch.Tensor) -> torch.Tensor:
        """Canvas boxes of image ``index`` -> the file's pixel coordinates."""
        left, top = self.pad[index].tolist()
        offset = torch.tensor([left, top, left, top], dtype=boxes.dtype)
        return (boxes - offset) / self.scale[index]


def letterbox_geometry(width: int, height: int, imgsz: int) -> tuple[float, tuple[int, int], tuple[int, int]]:
    """The scale, the resized (width, height) and the (left, top) padding of a width x height image."""
    scale = imgsz / max(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    return scale, (new_w, new_h), ((imgsz - new_w) // 2, (imgsz - new_h) // 2)


def letterbox_array(image: np.ndarray, imgsz: int) -> tuple[np.ndarray, float, tuple[int, int]]:
    """(S, S, 3) uint8 canvas, the scale, and the (left, top) padding."""
    height, width = image.shape[:2]
    scale, (new_w, new_h), (left, top) = letterbox_geometry(width, height, imgsz)
    resized = (
        image
        if (new_w, new_h) == (width, height)
        else np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.Resampling.BILINEAR))
    )
    canvas = np.full((imgsz, imgsz, 3), 114, dtype=np.uint8)
    canvas[top : top + new_h, left : left + new_w] = resized
    return canvas, scale, (left, top)


def letterboxed_boxes(image: CocoImage, scale: float, left: int, top: int) -> tuple[torch.Tensor, torch.Tensor]:
    """An image's boxes (xyxy, float) moved onto its letterboxed canvas, and its class ids."""
    offset = np.array([left, top, left, top], dtype=np.float32)
    return torch.from_numpy(image.boxes * scale + offset).float().reshape(-1, 4), torch.from_numpy(image.classes).long()


def letterbox_coco(data: CocoDetections | Sequence[CocoImage], imgsz: int) -> LetterboxedSet:
    """Decode and letterbox every image of a COCO file read with an image root, into one tensor.

    The (N, 3, S, S) tensor is allocated once and filled image by image: the peak is the set itself,
    not the three copies that a list of canvases, their stack and its channel-first copy took.
    """
    images = data.images if isinstance(data, CocoDetections) else list(data)
    out = torch.empty((len(images), 3, imgsz, imgsz), dtype=torch.uint8)
    boxes, classes, scales, pads = [], [], [], []
    for row, image in enumerate(images):
        if image.path is None:
            raise ValueError(f"{image.file_name}: read the COCO file with an image root to letterbox its images")
        canvas, scale, (left, top) = letterbox_array(load_image(image.path), imgsz)
        out[row] = torch.from_numpy(canvas).permute(2, 0, 1)
        scales.append(scale)
        pads.append((left, top))
        image_boxes, image_classes = letterboxed_boxes(image, scale, left, top)
        boxes.append(image_boxes)
        classes.append(image_classes)
    return LetterboxedSet(
        images=out,
        boxes=boxes,
        classes=classes,
        scale=torch.tensor(scales, dtype=torch.float32),
        pad=torch.tensor(pads, dtype=torch.float32).reshape(-1, 2),
        image_ids=[image.image_id for image in images],
        file_names=[image.file_name for image in images],
    )
