"""Train one detector per selected subset and seed; AP50 on the held-out split.

Every subset's detector gets the same number of optimiser steps, whatever its budget: a
detector trained from scratch on a few images first learns nothing, then its AP rises
steeply ("take-off") and levels off. Measured on the mini world (YOLOv8n, 64 px, batch 4):
a 20-image subset reaches AP50 0.01 after 125 steps, 0.19 after 250 and 0.28 after 300 (at
128 px, half width, no mosaic, csod's recipe since #26, it takes off sooner: 0.23 after 150). An
equal-*images* schedule (epochs = passes / budget) gave 20-image subsets fewer steps than
10-image ones (ceil of the batches per epoch: 125 vs 150), inside that take-off, so larger
budgets scored lower; equal steps past the take-off compares the subsets, not the schedule.

Runs are independent, so ``workers`` > 1 trains that many at once in separate processes
(ultralytics trains on one CPU thread each); every job gets its own YOLO-layout folder,
so label caches never collide, and results do not depend on ``workers``.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from revis.datasets.voc import VocRecord
from revis.detection.yolo import YoloConfig, evaluate_yolo, model_state, train_yolo
from revis.detection.yolo_format import write_yolo_dataset
from revis.workers import Backend, job_pool


def steps_per_epoch(budget: int, batch: int) -> int:
    """Optimiser steps in one epoch over ``budget`` images (ultralytics keeps the last, smaller batch)."""
    return math.ceil(budget / min(batch, budget))


def epochs_for_steps(budget: int, batch: int, steps: int) -> int:
    """Epochs giving at least ``steps`` optimiser steps on ``budget`` images (at most one epoch more)."""
    if budget < 1 or batch < 1 or steps < 1:
        raise ValueError(f"budget, batch and steps must be >= 1, got {budget}, {batch}, {steps}")
    return math.ceil(steps / steps_per_epoch(budget, batch))


def train_one(
    job_dir: str | os.PathLike,
    subset: Sequence[VocRecord],
    test: Sequence[VocRecord],
    class_names: Sequence[str],
    config: YoloConfig,
    seed: int,
    keep_state: bool = False,
) -> dict[str, Any]:
    """Train on ``subset`` in its own folder, evaluate on ``test``; the folder is removed afterwards.

    The result holds the test AP (overall, per class, on each half of the test split), the
    per-epoch losses, a fingerprint of the weights, and with ``keep_state`` the trained model
    (``model_state``); no wall time (results are DVC outputs: a time changes their md5 on every
    run; the stage's time is in MLflow).
    """
    job_dir = Path(job_dir)
    try:
        dataset = write_yolo_dataset(job_dir / "dataset", [*subset, *test], class_names)
        test_ids = [r.image_id for r in test]
        # training validates once, after its last epoch: one image keeps that cheap (nothing is picked on it)
        train_yaml = dataset.write_yaml("subset", [r.image_id for r in subset], test_ids[:1])
        eval_yaml = dataset.write_yaml("test", test_ids[:1], test_ids)
        history: list[dict[str, float]] = []
        net = train_yolo(train_yaml, config, seed, job_dir / "run", history=history)
        # a fingerprint of the trained weights: equal runs (1 or n processes, reruns) must agree on it
        weights_l1 = float(
            sum(float(v.double().abs().sum()) for v in net.state_dict().values() if v.is_floating_point())
        )
        result = evaluate_yolo(net, eval_yaml, config, job_dir / "val")
        result.update({"weights_l1": weights_l1, "history": history, "labels": dataset.report.to_dict()})
        if keep_state:
            result["state"] = model_state(net)
        return result
    finally:
        shutil.rmtree(job_dir, ignore_errors=True)


def run_jobs(
    function: Callable[..., dict[str, Any]],
    jobs: Sequence[tuple],
    workdir: str | os.PathLike,
    workers: int = 1,
    desc: str = "YOLO runs",
) -> list[dict[str, Any]]:
    """``function(workdir / job<i>, *args)`` for every args tuple, ``workers`` processes at once; results in order.

    ``workdir`` is scratch: emptied before, and removed when a job fails, so a failed stage
    leaves nothing behind under ``data/`` (each job also removes its own folder).
    """
    workdir = Path(workdir)
    shutil.rmtree(workdir, ignore_errors=True)  # leftovers of a killed run
    arguments = [(workdir / f"job{index:04d}", *args) for index, args in enumerate(jobs)]
    try:
        # spawned processes (no forked torch/ultralytics state), each with its default torch threads
        backend: Backend = "processes" if workers > 1 else "inline"
        with job_pool(backend, workers, threads=None, name="yolo") as pool:
            results = pool.map(function, arguments, desc=f"{desc} ({workers} at once)")
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    shutil.rmtree(workdir, ignore_errors=True)
    return results


@dataclass(frozen=True)
class SubsetJob:
    """One detector to train: a unique (image set, seed), the first subset row that asked for it."""

    index: int  # position among the jobs (and their results)
    label: str  # the subset it was trained for (later identical subsets reuse it)
    seed: int
    epochs: int
    steps: int
    records: tuple[VocRecord, ...]


def train_on_subsets(
    train: Sequence[VocRecord],
    test: Sequence[VocRecord],
    class_names: Sequence[str],
    subsets: Sequence[dict[str, Any]],
    config: YoloConfig,
    steps: int,
    workdir: str | os.PathLike,
    workers: int = 1,
) -> list[dict[str, Any]]:
    """One result row per subset, in the order of ``subsets``; identical (image set, seed) pairs train once.

    ``subsets``: rows with ``image_ids``, ``budget``, ``seed`` (also the training seed),
    ``label`` and ``method``; every detector gets ``steps`` optimiser steps (see the module doc).
    """
    records = {r.image_id: r for r in train}
    missing = sorted({i for s in subsets for i in s["image_ids"]} - set(records))
    if missing:
        raise KeyError(f"subsets name images that are not in the train pool: {missing[:5]}")
    jobs: dict[tuple[frozenset[str], int], SubsetJob] = {}  # unique (image set, seed) -> its job
    for subset in subsets:
        key = (frozenset(subset["image_ids"]), int(subset["seed"]))
        if key not in jobs:
            budget = len(subset["image_ids"])
            epochs = epochs_for_steps(budget, config.batch, steps)
            jobs[key] = SubsetJob(
                index=len(jobs),
                label=subset["label"],
                seed=int(subset["seed"]),
                epochs=epochs,
                steps=epochs * steps_per_epoch(budget, config.batch),
                records=tuple(records[i] for i in subset["image_ids"]),
            )
    arguments = [
        (list(job.records), list(test), list(class_names), replace(config, epochs=job.epochs), job.seed)
        for job in jobs.values()
    ]
    results = run_jobs(train_one, arguments, workdir, workers, desc="YOLO per subset x seed")
    rows, seen = [], set()
    for subset in subsets:
        key = (frozenset(subset["image_ids"]), int(subset["seed"]))
        job = jobs[key]
        rows.append(
            {
                "label": subset["label"],
                "method": subset["method"],
                "budget": int(subset["budget"]),
                "seed": int(subset["seed"]),
                **results[job.index],
                "epochs": job.epochs,
                "steps": job.steps,
                "trained_for": job.label,
                "reused": key in seen,
            }
        )
        seen.add(key)
    return rows
