"""Letterboxed detection images read lazily from their files: a pool as large as FIgLib without holding it in RAM.

``letterbox_coco`` decodes every image of a COCO file once and keeps the uint8 canvases: fine for
a few hundred images, but the unlabeled target pool of the real data (~27k FIgLib frames at
640 px) would be ≈33 GB per process. :class:`StreamedImages` holds only file paths and
decodes, letterboxes and stacks the images of one batch when it is indexed -- with the same
decoder and the same letterbox as the eager path (``revis.detection.letterboxed``), so a batch
is the very tensor the eager set would have returned: training on a streamed pool draws the same
batches, augmentations and random numbers and gives byte-identical results.

A streamed set is a read-only view: ``select`` (what ``LetterboxedSet.subset`` calls) returns
another view over the same path table, so every arm's pool (the target pool minus its labeled
split) shares one table instead of copying the images. ``threads`` > 1 decodes a batch's files in
a thread pool (PIL releases the GIL while decoding); the result does not depend on it.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from revis.datasets.coco import CocoDetections, CocoImage
from revis.datasets.images import load_image
from revis.datasets.imageset import DataError
from revis.detection.letterboxed import LetterboxedSet, letterbox_array, letterbox_geometry, letterboxed_boxes

Index = int | slice | Sequence[int] | np.ndarray | torch.Tensor


class StreamedImages(Dataset[torch.Tensor]):
    """uint8 (N, 3, S, S) letterboxed images, decoded from ``paths`` when indexed (module doc).

    ``images[i]`` is one (3, S, S) canvas; ``images[list]``, ``images[tensor]`` and ``images[a:b]``
    a stacked (B, 3, S, S) batch in the order asked -- what indexing the eager tensor gives.
    ``sizes``: each file's (width, height), checked against the decoded image.
    """

    def __init__(
        self,
        paths: Sequence[str | Path],
        sizes: Sequence[tuple[int, int]],
        imgsz: int,
        index: np.ndarray | None = None,
        threads: int = 1,
    ) -> None:
        if len(paths) != len(sizes):
            raise ValueError(f"{len(paths)} paths but {len(sizes)} sizes")
        self._paths = tuple(str(p) for p in paths)  # shared by every view, never copied
        self._sizes = tuple((int(w), int(h)) for w, h in sizes)
        self._index = np.arange(len(self._paths), dtype=np.int64) if index is None else index
        self._index.setflags(write=False)
        self.imgsz, self.threads = int(imgsz), int(threads)

    def __len__(self) -> int:
        return len(self._index)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self), 3, self.imgsz, self.imgsz)

    @property
    def paths(self) -> list[str]:
        """The files of this view, in order."""
        return [self._paths[i] for i in self._index]

    def _positions(self, index: Index) -> np.ndarray:
        if isinstance(index, slice):
            return self._index[index]
        if isinstance(index, torch.Tensor):
            index = index.cpu().numpy()
        positions = np.asarray(index, dtype=np.int64).reshape(-1)
        return self._index[positions]

    def canvas(self, position: int) -> np.ndarray:
        """The (S, S, 3) uint8 canvas of row ``position`` of the path table (not of this view)."""
        path = self._paths[position]
        image = load_image(path)
        width, height = self._sizes[position]
        if image.shape[:2] != (height, width):
            raise DataError(f"{path}: decoded {image.shape[1]}x{image.shape[0]}, listed as {width}x{height}")
        return letterbox_array(image, self.imgsz)[0]

    def __getitem__(self, index: Index) -> torch.Tensor:
        if isinstance(index, (int, np.integer)):
            return torch.from_numpy(self.canvas(int(self._index[index]))).permute(2, 0, 1).contiguous()
        positions = self._positions(index)
        out = torch.empty((len(positions), 3, self.imgsz, self.imgsz), dtype=torch.uint8)
        if self.threads > 1 and len(positions) > 1:
            with ThreadPoolExecutor(min(self.threads, len(positions))) as pool:
                for row, canvas in enumerate(pool.map(self.canvas, positions.tolist())):
                    out[row] = torch.from_numpy(canvas).permute(2, 0, 1)
        else:
            for row, position in enumerate(positions.tolist()):
                out[row] = torch.from_numpy(self.canvas(position)).permute(2, 0, 1)
        return out

    def select(self, indices: Index) -> StreamedImages:
        """A view of some of these images (the same path table, nothing decoded)."""
        view = copy.copy(self)
        view._index = self._positions(indices)
        view._index.setflags(write=False)
        return view

    def shares_table(self, other: StreamedImages) -> bool:
        """Whether both views read one path table (no copy between them)."""
        return self._paths is other._paths

    @staticmethod
    def concat(parts: Sequence[StreamedImages]) -> StreamedImages:
        """The images of ``parts`` in order (a new path table of their files)."""
        if not parts or len({p.imgsz for p in parts}) != 1:
            raise ValueError("concat needs at least one part and one canvas size")
        paths = [p._paths[i] for p in parts for i in p._index]
        sizes = [p._sizes[i] for p in parts for i in p._index]
        return StreamedImages(paths, sizes, parts[0].imgsz, threads=parts[0].threads)


def stream_coco(data: CocoDetections | Sequence[CocoImage], imgsz: int, threads: int = 1) -> LetterboxedSet:
    """``letterbox_coco`` without decoding: the same boxes, scales and pads, images streamed from their files.

    The geometry comes from each image's listed size (``read_coco_detections(..., check_files=True)``
    checks it against the file's header; decoding checks it again).
    """
    images = data.images if isinstance(data, CocoDetections) else list(data)
    paths, sizes, boxes, classes, scales, pads = [], [], [], [], [], []
    for image in images:
        if image.path is None:
            raise ValueError(f"{image.file_name}: read the COCO file with an image root to stream its images")
        scale, _, (left, top) = letterbox_geometry(image.width, image.height, imgsz)
        paths.append(image.path)
        sizes.append((image.width, image.height))
        scales.append(scale)
        pads.append((left, top))
        image_boxes, image_classes = letterboxed_boxes(image, scale, left, top)
        boxes.append(image_boxes)
        classes.append(image_classes)
    return LetterboxedSet(
        images=StreamedImages(paths, sizes, imgsz, threads=threads),
        boxes=boxes,
        classes=classes,
        scale=torch.tensor(scales, dtype=torch.float32),
        pad=torch.tensor(pads, dtype=torch.float32).reshape(-1, 2),
        image_ids=[image.image_id for image in images],
        file_names=[image.file_name for image in images],
    )


def concat_sets(parts: Sequence[LetterboxedSet]) -> LetterboxedSet:
    """The rows of ``parts`` in order: one tensor when all are in memory, one streamed table when all are streamed."""
    if all(isinstance(p.images, torch.Tensor) for p in parts):
        images: torch.Tensor | StreamedImages = torch.cat([p.images for p in parts])  # type: ignore[misc]
    elif all(isinstance(p.images, StreamedImages) for p in parts):
        images = StreamedImages.concat([p.images for p in parts])  # type: ignore[misc]
    else:
        raise ValueError("cannot concatenate in-memory and streamed sets")
    return LetterboxedSet(
        images=images,
        boxes=[b for p in parts for b in p.boxes],
        classes=[c for p in parts for c in p.classes],
        scale=torch.cat([p.scale for p in parts]),
        pad=torch.cat([p.pad for p in parts]),
        image_ids=[i for p in parts for i in p.image_ids],
        file_names=[f for p in parts for f in p.file_names],
    )
