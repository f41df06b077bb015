"""``baseline-train``: one ConvNet per (dataset, seed)."""

from __future__ import annotations

from typing import Any

import torch

from revis.datasets.imageset import ImageSet
from revis.datasets.named import named_splits
from revis.models import build_model
from revis.pipelines.baseline.params import Params
from revis.training import TrainConfig
from revis.training.baseline import BaselineCheckpoints, BaselineJob, History, baseline_checkpoint, fit_baseline
from revis.workers import run_threads


def train_baselines(
    shapes: dict[str, Any], digits: dict[str, ImageSet], params: Params
) -> tuple[BaselineCheckpoints, dict[str, History]]:
    """Train one ConvNet per (dataset, seed); return self-describing checkpoints and histories."""
    config = TrainConfig(
        epochs=params.epochs,
        batch_size=params.batch_size,
        lr=params.lr,
        momentum=params.momentum,
        weight_decay=params.weight_decay,
    )
    checkpoints = BaselineCheckpoints(model=params.model.model_dump(), runs={})
    jobs = []
    for name in params.datasets:
        train, _ = named_splits(name, {"shapes": shapes, "digits": digits})
        for seed in params.seeds:  # initialised here, in order: the threads must not draw from torch's global RNG
            torch.manual_seed(seed)
            net = build_model(params.model, train.channels, train.num_classes, train.image_size)
            jobs.append(BaselineJob(name, seed, train, net, config))
    # the runs train concurrently, one thread each (small ConvNets use two cores badly through intra-op threads)
    histories: dict[str, History] = {}
    for job, history in zip(jobs, run_threads(fit_baseline, [(job,) for job in jobs])):
        checkpoints["runs"][job.key] = baseline_checkpoint(job)
        histories[job.key] = history
    return checkpoints, histories
