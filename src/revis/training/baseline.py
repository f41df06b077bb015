"""The baseline classifiers' worker job: one ConvNet trained on one (dataset, seed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from revis.curves import curve_key
from revis.datasets.imageset import ImageSet
from revis.training.trainer import TrainConfig, train_classifier


@dataclass(frozen=True)
class BaselineJob:
    """One baseline run (a ``run_threads`` job): ``net`` (initialised by the caller) trained on ``train``."""

    dataset: str
    seed: int
    train: ImageSet
    net: nn.Module
    config: TrainConfig

    @property
    def key(self) -> str:
        """``"<dataset>/seed<s>"``: the run's key in the checkpoints and histories."""
        return f"{self.dataset}/seed{self.seed}"


def fit_baseline(job: BaselineJob) -> dict[str, list[float]]:
    """Train ``job.net`` in place; its history ``{"loss", "accuracy"}`` (also logged as the run's curves)."""
    x, y = job.train.tensors()
    history = train_classifier(
        job.net,
        x,
        y,
        job.config,
        job.seed,
        desc=f"{job.dataset} seed {job.seed}",
        curve=curve_key(job.dataset, job.seed),
    )
    return history.to_dict()


def baseline_checkpoint(job: BaselineJob) -> dict[str, Any]:
    """What ``baseline.checkpoints`` keeps of a trained run (loadable with ``weights_only=True``)."""
    train = job.train
    return {
        "dataset": job.dataset,
        "seed": job.seed,
        "state_dict": job.net.state_dict(),
        "shape": [train.channels, train.num_classes, train.image_size],
    }
