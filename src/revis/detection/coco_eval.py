"""AP50 and AP50:95 by pycocotools' COCOeval against a COCO JSON ground-truth file, as detection papers report.

The ground truth is the released file itself (``COCO(path)``), so border overruns, negatives
(images without annotations: every detection on them is a false positive) and category ids
are scored exactly as the file says. Detections are COCO results: ``image_id`` of that file,
``category_id`` of that file, ``bbox`` [x, y, w, h] in the file's pixels, ``score``.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Sequence
from typing import Any

import numpy as np


def coco_results(rows: Any, image_ids: Sequence[int], category_of: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """(n, 7) rows ``[image index, x, y, w, h, score, class]`` -> COCO result dicts.

    ``image_ids[index]`` is the file's id of the image; ``category_of[class]`` its category id
    (default: class ``c`` -> category ``c``; LADA's one class 0 is category 0).
    """
    array = np.asarray(rows, dtype=np.float64).reshape(-1, 7)
    return [
        {
            "image_id": int(image_ids[int(r[0])]),
            "category_id": int(category_of[int(r[6])] if category_of is not None else int(r[6])),
            "bbox": [round(float(v), 2) for v in r[1:5]],
            "score": round(float(r[5]), 5),
        }
        for r in array
    ]


def coco_ap(ground_truth: str | os.PathLike, results: list[dict[str, Any]]) -> dict[str, float]:
    """``{"ap50", "ap50_95", "ap75", "ar100"}`` of ``results`` on ``ground_truth`` (bbox, all areas, 100 dets)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(ground_truth))
        if not results:  # COCO.loadRes refuses an empty list; nothing detected is AP 0
            return {"ap50": 0.0, "ap50_95": 0.0, "ap75": 0.0, "ar100": 0.0}
        known = set(truth.getImgIds())
        stray = sorted({r["image_id"] for r in results} - known)
        if stray:
            raise ValueError(f"detections for image ids {stray[:5]} that {ground_truth} does not list")
        evaluation = COCOeval(truth, truth.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    stats = [max(0.0, float(v)) for v in evaluation.stats]  # -1 means "no ground truth in this range"
    return {"ap50_95": stats[0], "ap50": stats[1], "ap75": stats[2], "ar100": stats[8]}
