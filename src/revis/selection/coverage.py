"""What a selected subset holds: classes covered, boxes per class."""

from __future__ import annotations

from typing import Any

import numpy as np

from revis.selection.pool import SelectionPool


def coverage(pool: SelectionPool, picks: np.ndarray) -> dict[str, Any]:
    """Classes with at least one box, the smallest per-class box count, boxes per class."""
    boxes = pool.boxes()[np.asarray(picks, dtype=np.int64)].sum(0)
    return {
        "images": len(picks),
        "classes_covered": int((boxes > 0).sum()),
        "min_boxes_per_class": int(boxes.min()) if len(boxes) else 0,
        "boxes": int(boxes.sum()),
        "boxes_per_class": {name: int(n) for name, n in zip(pool.class_names, boxes)},
    }
