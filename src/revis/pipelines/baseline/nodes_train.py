"""``baseline-train``: one ConvNet per (dataset, seed)."""

from __future__ import annotations

from typing import Any

import torch

from revis.curves import curve_key
from revis.datasets.imageset import ImageSet
from revis.datasets.named import named_splits
from revis.models import build_model
from revis.pipelines.baseline.params import Params
from revis.training import TrainConfig, train_classifier
from revis.workers import run_threads


def train_baselines(
    shapes: dict[str, Any], digits: dict[str, ImageSet], params: Params
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train one ConvNet per (dataset, seed); return self-describing checkpoints and histories."""
    config = TrainConfig(
        epochs=params.epochs,
        batch_size=params.batch_size,
        lr=params.lr,
        momentum=params.momentum,
        weight_decay=params.weight_decay,
    )
    checkpoints: dict[str, Any] = {"model": params.model.model_dump(), "runs": {}}
    runs = []
    for name in params.datasets:
        train, _ = named_splits(name, {"shapes": shapes, "digits": digits})
        for seed in params.seeds:  # initialised here, in order: the threads must not draw from torch's global RNG
            torch.manual_seed(seed)
            runs.append(
                (name, seed, train, build_model(params.model, train.channels, train.num_classes, train.image_size))
            )

    def fit(name: str, seed: int, train: ImageSet, net: torch.nn.Module) -> dict[str, Any]:
        x, y = train.tensors()
        return train_classifier(
            net, x, y, config, seed, desc=f"{name} seed {seed}", curve=curve_key(name, seed)
        ).to_dict()

    # the runs train concurrently, one thread each (small ConvNets use two cores badly through intra-op threads)
    histories: dict[str, Any] = {}
    for (name, seed, train, net), history in zip(runs, run_threads(fit, runs)):
        run = f"{name}/seed{seed}"
        checkpoints["runs"][run] = {
            "dataset": name,
            "seed": seed,
            "state_dict": net.state_dict(),
            "shape": [train.channels, train.num_classes, train.image_size],
        }
        histories[run] = history
    return checkpoints, histories
