"""``csod-train``: a YOLO per subset x seed (seed = the whole chain's seed), AP on the test split."""

from __future__ import annotations

from typing import Any

from revis.config.runtime import ComputeParams
from revis.curves import curve_key, log_curve
from revis.datasets.voc import VocData
from revis.detection.data import detection_splits
from revis.detection.subsets import train_on_subsets
from revis.detection.ultralytics_env import ultralytics_home
from revis.pipelines.csod.nodes_features import yolo_config
from revis.pipelines.csod.params import DataParams, TrainParams, YoloParams


def train_subsets(
    subsets: list[dict[str, Any]],
    world: VocData,
    data: DataParams,
    yolo: YoloParams,
    train: TrainParams,
    compute: ComputeParams,
) -> list[dict[str, Any]]:
    """Every subset's detector, the same optimiser steps whatever its size; wall times go to MLflow."""
    splits = detection_splits(world, data.voc_root, data.train_splits, data.test_split, data.class_names)
    runs = train_on_subsets(
        splits.train,
        splits.test,
        splits.class_names,
        subsets,
        yolo_config(yolo, compute),
        train.steps,
        ultralytics_home() / "work" / "csod" / "train",
        workers=compute.workers,
    )
    for run in (r for r in runs if not r["reused"]):
        for point in run["history"]:
            curve = curve_key(f"{run['label']}.b{run['budget']}", run["seed"])
            log_curve({k: v for k, v in point.items() if k != "epoch"}, point["epoch"], curve)
    return runs
