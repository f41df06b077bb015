"""Train one detector per selected subset and seed; AP50 on the held-out split."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from revis.datasets.voc import VocRecord
from revis.detection.yolo import YoloConfig, evaluate_yolo, train_yolo
from revis.detection.yolo_format import write_yolo_dataset


def epochs_for_budget(budget: int, image_passes: int, min_epochs: int, max_epochs: int) -> int:
    """Epochs so that every subset's detector sees about ``image_passes`` images, clipped."""
    return int(min(max_epochs, max(min_epochs, math.ceil(image_passes / max(budget, 1)))))


def train_on_subsets(
    train: Sequence[VocRecord],
    test: Sequence[VocRecord],
    class_names: Sequence[str],
    subsets: Sequence[dict[str, Any]],
    config: YoloConfig,
    epochs_of: dict[int, int],
    workdir: str | os.PathLike,
) -> list[dict[str, Any]]:
    """One result row per subset; identical (image set, seed) pairs are trained once.

    ``subsets``: rows with ``image_ids``, ``budget``, ``seed`` (also the training seed) and
    ``label``; ``epochs_of``: budget -> epochs.
    """
    workdir = Path(workdir)
    dataset = write_yolo_dataset(workdir / "dataset", [*train, *test], class_names)
    test_ids = [r.image_id for r in test]
    # training validates once at its end; one image keeps that cheap -- the test AP is evaluate_yolo's
    train_yaml = lambda name, ids: dataset.write_yaml(name, ids, test_ids[:1])  # noqa: E731
    eval_yaml = dataset.write_yaml("test", test_ids[:1], test_ids)
    done: dict[tuple[frozenset[str], int], dict[str, Any]] = {}
    rows = []
    for subset in tqdm(subsets, desc="YOLO per subset x seed"):
        key = (frozenset(subset["image_ids"]), int(subset["seed"]))
        reused = key in done
        if not reused:
            epochs = epochs_of[int(subset["budget"])]
            run_config = YoloConfig(**{**config.__dict__, "epochs": epochs})
            start = time.perf_counter()
            net = train_yolo(train_yaml("subset", subset["image_ids"]), run_config, int(subset["seed"]), workdir / "run")
            seconds = time.perf_counter() - start
            result = evaluate_yolo(net, eval_yaml, run_config, workdir / "val")
            done[key] = {**result, "epochs": epochs, "train_seconds": seconds, "trained_for": subset["label"]}
        rows.append({"label": subset["label"], "method": subset["method"], "budget": int(subset["budget"]),
                     "seed": int(subset["seed"]), **done[key], "reused": reused})
    return rows
