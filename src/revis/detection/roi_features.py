"""CSOD's representative vectors: RoIAlign every ground-truth box on a detector feature map.

For box j of image i: RoIAlign (torchvision.ops.roi_align) on the chosen map, global-average
pool -> r_ij; then p_{i,c} = mean of r_ij over the boxes of class c in image i. Which map the
paper uses (FPN level or RoI head) is unverified, so ``layer`` names one of YOLOv8's maps.
Images are letterboxed to ``imgsz`` as ultralytics does at inference (long side to imgsz,
centred grey padding), and boxes are mapped the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image
from torchvision.ops import roi_align
from tqdm import tqdm

from revis.datasets.images import load_image
from revis.datasets.voc import VocRecord
from revis.detection.layers import yolo_layers
from revis.selection.pool import SelectionPool

# Output indices of YOLOv8's layers (ultralytics/cfg/models/v8/yolov8.yaml): the backbone's
# C2f/SPPF at strides 8/16/32 and the neck's (PAN) C2f outputs that feed the Detect head.
YOLOV8_LAYERS = {"backbone_p3": 4, "backbone_p4": 6, "backbone_p5": 9, "neck_p3": 15, "neck_p4": 18, "neck_p5": 21}


def letterbox(image: np.ndarray, imgsz: int) -> tuple[torch.Tensor, float, tuple[float, float]]:
    """(3, imgsz, imgsz) float in [0, 1], the scale, and the (left, top) padding."""
    height, width = image.shape[:2]
    scale = imgsz / max(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    resized = (
        np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.Resampling.BILINEAR)) if scale != 1 else image
    )
    left, top = (imgsz - new_w) // 2, (imgsz - new_h) // 2
    canvas = np.full((imgsz, imgsz, 3), 114, dtype=np.uint8)
    canvas[top : top + new_h, left : left + new_w] = resized
    return torch.from_numpy(canvas).permute(2, 0, 1).float() / 255.0, scale, (float(left), float(top))


class _Capture:
    def __init__(self, module: torch.nn.Module) -> None:
        self.output: torch.Tensor | None = None
        self.handle = module.register_forward_hook(self._hook)

    def _hook(self, _module, _inputs, output) -> None:
        self.output = output


@torch.no_grad()
def box_features(
    net: torch.nn.Module, images: torch.Tensor, boxes: Sequence[torch.Tensor], layer: str | int, roi_size: int = 7
) -> list[torch.Tensor]:
    """Per image a (boxes, channels) tensor: RoIAlign on ``layer``'s map, then average over the RoI.

    ``images``: (B, 3, S, S) letterboxed; ``boxes``: per image (K, 4) ``x0 y0 x1 y1`` in input pixels.
    """
    index = YOLOV8_LAYERS[layer] if isinstance(layer, str) else int(layer)
    capture = _Capture(yolo_layers(net)[index])
    try:
        net.eval()(images)
    finally:
        capture.handle.remove()
    fmap = capture.output
    if fmap is None:
        raise RuntimeError(f"layer {layer} produced no output (not on the model's forward path?)")
    stride = images.shape[-1] / fmap.shape[-1]
    pooled = roi_align(
        fmap,
        [b.float() for b in boxes],
        output_size=roi_size,
        spatial_scale=1.0 / stride,
        sampling_ratio=2,
        aligned=True,
    )
    vectors = pooled.mean(dim=(2, 3))
    return list(torch.split(vectors, [len(b) for b in boxes]))


def representative_vectors(
    net: torch.nn.Module,
    records: Sequence[VocRecord],
    class_names: Sequence[str],
    imgsz: int,
    layer: str | int = "neck_p3",
    roi_size: int = 7,
    batch: int = 32,
    include_difficult: bool = False,
) -> SelectionPool:
    """One vector per (image, class present): the mean RoIAlign feature of that class's boxes."""
    index = {name: i for i, name in enumerate(class_names)}
    image_index, class_index, vectors, counts = [], [], [], []
    for start in tqdm(range(0, len(records), batch), desc=f"RoIAlign features ({layer})", leave=False):
        chunk = records[start : start + batch]
        tensors, boxes, labels = [], [], []
        for record in chunk:
            tensor, scale, (left, top) = letterbox(load_image(record.image_path), imgsz)
            objects = [o for o in record.objects if include_difficult or not o.difficult]
            tensors.append(tensor)
            boxes.append(
                torch.tensor(
                    [
                        [
                            o.box[0] * scale + left,
                            o.box[1] * scale + top,
                            o.box[2] * scale + left,
                            o.box[3] * scale + top,
                        ]
                        for o in objects
                    ],
                    dtype=torch.float32,
                ).reshape(-1, 4)
            )
            labels.append([index[o.name] for o in objects])
        for offset, (feats, classes) in enumerate(
            zip(box_features(net, torch.stack(tensors), boxes, layer, roi_size), labels)
        ):
            per_box = np.asarray(classes, dtype=np.int64)
            for c in np.unique(per_box):
                image_index.append(start + offset)
                class_index.append(int(c))
                vectors.append(feats[torch.as_tensor(per_box == c)].mean(0))
                counts.append(int((classes == c).sum()))
    dim = vectors[0].shape[0] if vectors else 0
    return SelectionPool(
        image_ids=[r.image_id for r in records],
        class_names=list(class_names),
        image_index=np.asarray(image_index, dtype=np.int64),
        class_index=np.asarray(class_index, dtype=np.int64),
        vectors=torch.stack(vectors) if vectors else torch.zeros(0, dim),
        box_counts=np.asarray(counts, dtype=np.int64),
    )
