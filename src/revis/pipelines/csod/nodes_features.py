"""``csod-features``: one feature detector per seed on the whole pool, its test AP, the pool's RoIAlign vectors."""

from __future__ import annotations

from typing import Any

from revis.config.runtime import ComputeParams
from revis.curves import curve_key, log_curve
from revis.datasets.voc import VocData
from revis.detection.data import detection_splits
from revis.detection.features import train_feature_detectors
from revis.detection.ultralytics_env import ultralytics_home
from revis.detection.yolo import YoloConfig
from revis.pipelines.csod.params import DataParams, FeaturesParams, YoloParams

REPORT_KEYS = ("ap50", "ap50_95", "ap50_per_class", "ap50_halves", "n_images", "epochs", "steps", "train_images")


def yolo_config(yolo: YoloParams, compute: ComputeParams) -> YoloConfig:
    """The library's YOLO settings (epochs are set per run from the step budget)."""
    return YoloConfig(
        model=yolo.model,
        imgsz=yolo.imgsz,
        batch=yolo.batch,
        optimizer=yolo.optimizer,
        lr0=yolo.lr0,
        warmup_epochs=yolo.warmup_epochs,
        mosaic=yolo.mosaic,
        close_mosaic=yolo.close_mosaic,
        device=compute.device,
        width_multiple=yolo.width_multiple,
    )


def build_features(
    world: VocData,
    seeds: list[int],
    data: DataParams,
    yolo: YoloParams,
    features: FeaturesParams,
    compute: ComputeParams,
) -> tuple[dict[int, Any], dict[str, Any], dict[int, Any]]:
    """Per seed: a YOLO trained on the whole train pool (the feature extractor), its test AP, the pool's vectors."""
    splits = detection_splits(world, data.voc_root, data.train_splits, data.test_split, data.class_names)
    results = train_feature_detectors(
        splits.train,
        splits.test,
        splits.class_names,
        yolo_config(yolo, compute),
        features.steps,
        seeds,
        features.layer,
        features.roi_size,
        ultralytics_home() / "work" / "csod" / "features",
        workers=compute.workers,
    )
    for seed, result in results.items():
        for point in result["history"]:
            log_curve(
                {k: v for k, v in point.items() if k != "epoch"}, point["epoch"], curve_key("feature_detector", seed)
            )
    report = {
        "seeds": {str(s): {k: r[k] for k in REPORT_KEYS} for s, r in results.items()},
        "reader": splits.report.to_dict(),
        "labels": results[seeds[0]]["labels"],  # every detector converts the same pool and test split
    }
    detectors = {s: r["state"] for s, r in results.items()}
    representatives = {s: r["representatives"] for s, r in results.items()}
    return detectors, report, representatives
