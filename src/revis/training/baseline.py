"""The baseline classifiers' worker job: one ConvNet trained on one (dataset, seed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict

from torch import nn

from revis.curves import curve_key
from revis.datasets.imageset import ImageSet
from revis.training.trainer import TrainConfig, train_classifier


class BaselineRun(TypedDict):
    """One trained baseline as ``baseline.checkpoints`` keeps it (loadable with ``weights_only=True``)."""

    dataset: str
    seed: int
    state_dict: dict[str, Any]
    shape: list[int]  # (channels, classes, image size)


class BaselineCheckpoints(TypedDict):
    """``baseline.checkpoints``: the model config they share and one run per ``"<dataset>/seed<s>"``."""

    model: dict[str, Any]  # ModelConfig as a dict
    runs: dict[str, BaselineRun]


History = dict[str, list[float]]  # "loss", "accuracy" per epoch


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


def fit_baseline(job: BaselineJob) -> History:
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


def baseline_checkpoint(job: BaselineJob) -> BaselineRun:
    """What ``baseline.checkpoints`` keeps of a trained run."""
    train = job.train
    return BaselineRun(
        dataset=job.dataset,
        seed=job.seed,
        state_dict=job.net.state_dict(),
        shape=[train.channels, train.num_classes, train.image_size],
    )
