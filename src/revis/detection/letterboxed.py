"""Detection images held in memory, letterboxed to one square size, with their boxes in canvas pixels.

Letterboxing as ultralytics does at inference: the long side is scaled to ``imgsz``, the
image centred on a grey (114) canvas. Mixed frame sizes (LADA's 2048 x 1536, 3072 x 2048,
...) therefore share one tensor; ``to_original`` maps canvas boxes back to the file's pixels
for COCO evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from revis.datasets.coco import CocoDetections, CocoImage
from revis.datasets.images import load_image


@dataclass
class LetterboxedSet:
    images: torch.Tensor  # uint8 (N, 3, S, S)
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

    def subset(self, indices: Sequence[int]) -> LetterboxedSet:
        idx = list(indices)
        return LetterboxedSet(
            images=self.images[idx],
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


def letterbox_array(image: np.ndarray, imgsz: int) -> tuple[np.ndarray, float, tuple[int, int]]:
    """(S, S, 3) uint8 canvas, the scale, and the (left, top) padding."""
    height, width = image.shape[:2]
    scale = imgsz / max(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    resized = (
        image
        if (new_w, new_h) == (width, height)
        else np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.Resampling.BILINEAR))
    )
    left, top = (imgsz - new_w) // 2, (imgsz - new_h) // 2
    canvas = np.full((imgsz, imgsz, 3), 114, dtype=np.uint8)
    canvas[top : top + new_h, left : left + new_w] = resized
    return canvas, scale, (left, top)


def letterbox_coco(data: CocoDetections | Sequence[CocoImage], imgsz: int) -> LetterboxedSet:
    """Decode and letterbox every image of a COCO file read with an image root."""
    images = data.images if isinstance(data, CocoDetections) else list(data)
    canvases, boxes, classes, scales, pads = [], [], [], [], []
    for image in images:
        if image.path is None:
            raise ValueError(f"{image.file_name}: read the COCO file with an image root to letterbox its images")
        canvas, scale, (left, top) = letterbox_array(load_image(image.path), imgsz)
        canvases.append(canvas)
        scales.append(scale)
        pads.append((left, top))
        offset = np.array([left, top, left, top], dtype=np.float32)
        boxes.append(torch.from_numpy(image.boxes * scale + offset).float().reshape(-1, 4))
        classes.append(torch.from_numpy(image.classes).long())
    stacked = np.stack(canvases) if canvases else np.zeros((0, imgsz, imgsz, 3), np.uint8)
    return LetterboxedSet(
        images=torch.from_numpy(stacked).permute(0, 3, 1, 2).contiguous(),
        boxes=boxes,
        classes=classes,
        scale=torch.tensor(scales, dtype=torch.float32),
        pad=torch.tensor(pads, dtype=torch.float32).reshape(-1, 2),
        image_ids=[image.image_id for image in images],
        file_names=[image.file_name for image in images],
    )
