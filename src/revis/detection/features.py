"""CSOD's feature extractors: one detector per seed trained on the whole pool, and its RoIAlign vectors.

The paper takes its representative vectors from a detector trained on the full training set.
With whole-chain seeds, seed s trains its own feature detector (same schedule, seed s), so
CSOD's picks vary with the seed as the random baselines' do. Each worker trains a detector,
evaluates it on the test split (the full-data reference AP) and extracts the representative
vectors of the pool on its own process; the parent only collects.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from revis.datasets.voc import VocRecord
from revis.detection.roi_features import representative_vectors
from revis.detection.subsets import epochs_for_steps, run_jobs, steps_per_epoch, train_one
from revis.detection.yolo import YoloConfig, load_model_state


def feature_job(
    job_dir: str | os.PathLike,
    pool: Sequence[VocRecord],
    test: Sequence[VocRecord],
    class_names: Sequence[str],
    config: YoloConfig,
    seed: int,
    layer: str,
    roi_size: int,
) -> dict[str, Any]:
    """Train one feature detector on ``pool``; its test AP, weights, and the pool's representative vectors."""
    result = train_one(job_dir, pool, test, class_names, config, seed, keep_state=True)
    net = load_model_state(result["state"])
    vectors = representative_vectors(net, pool, class_names, config.imgsz, layer=layer, roi_size=roi_size)
    return {**result, "representatives": vectors.to_dict()}


def train_feature_detectors(
    pool: Sequence[VocRecord],
    test: Sequence[VocRecord],
    class_names: Sequence[str],
    config: YoloConfig,
    steps: int,
    seeds: Sequence[int],
    layer: str,
    roi_size: int,
    workdir: str | os.PathLike,
    workers: int = 1,
) -> dict[int, dict[str, Any]]:
    """Per seed: ``state`` (the detector), ``representatives`` (a ``SelectionPool`` dict) and its test AP."""
    epochs = epochs_for_steps(len(pool), config.batch, steps)
    done = epochs * steps_per_epoch(len(pool), config.batch)
    jobs = [
        (list(pool), list(test), list(class_names), replace(config, epochs=epochs), int(s), layer, roi_size)
        for s in seeds
    ]
    results = run_jobs(feature_job, jobs, workdir, workers, desc="feature detectors (one per seed)")
    return {
        int(seed): {**result, "seed": int(seed), "epochs": epochs, "steps": done, "train_images": len(pool)}
        for seed, result in zip(seeds, results)
    }
