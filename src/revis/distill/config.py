"""Schemas shared by the distillation pipelines (dsv, dkkt): Distribution Matching and the evaluation protocol.

Defaults are the reference's (VICO-UoE/DatasetCondensation, ``main_DM.py`` / ``utils.py``);
pipelines scale them down in params.yaml and say so in the README.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from revis.config.types import STRICT, DataPath, Seed
from revis.models import ModelConfig

AugmentOp = Literal["color", "crop", "cutout", "flip", "scale", "rotate", "noise"]
DSA_STRATEGY: list[AugmentOp] = ["color", "crop", "cutout", "flip", "scale", "rotate"]  # the reference's default


def _reference_convnet() -> ModelConfig:
    # get_default_convnet_setting(): width 128, depth 3, ReLU, instance norm, average pooling;
    # networks.py pads the first convolution by 3 on one-channel images
    return ModelConfig(name="convnet", width=128, depth=3, norm="instancenorm", grey_stem_padding=3)


class DMConfig(BaseModel):
    """Distribution Matching (main_DM.py): a fresh network per iteration, mean embeddings per class, DSA."""

    model_config = STRICT
    iterations: int = Field(20_000, ge=1, le=1_000_000)
    lr: float = Field(1.0, gt=0, le=100)  # image learning rate (SGD)
    momentum: float = Field(0.5, ge=0, lt=1)
    batch_real: int = Field(256, ge=1, le=100_000)  # real images per class and iteration
    model: ModelConfig = Field(default_factory=_reference_convnet)
    augment: list[AugmentOp] = Field(default_factory=lambda: list(DSA_STRATEGY))
    init: Literal["real", "noise"] = "real"


class EvalProtocol(BaseModel):
    """evaluate_synset(): fresh networks trained on the set alone, SGD, lr x0.1 after half the epochs, DSA."""

    model_config = STRICT
    model: ModelConfig = Field(default_factory=_reference_convnet)
    epochs: int = Field(1000, ge=1, le=100_000)  # the reference trains epochs + 1 passes
    batch_size: int = Field(256, ge=1, le=65_536)
    lr: float = Field(0.01, gt=0, le=10)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(5e-4, ge=0, le=1)
    augment: list[AugmentOp] = Field(default_factory=lambda: list(DSA_STRATEGY))


# The reference's DSA ops per dataset: flip is dropped on digits (a mirrored digit is not the digit;
# DatasetCondensation runs MNIST without flip), every other dataset keeps the strategy as given.
NO_FLIP = frozenset({"digits"})


def dsa_ops(dataset: str, ops: list[AugmentOp]) -> list[AugmentOp]:
    """The DSA ops used on ``dataset``: ``ops`` without ``flip`` on digits."""
    return [op for op in ops if not (op == "flip" and dataset in NO_FLIP)]


def protocol_for(dataset: str, protocol: EvalProtocol) -> EvalProtocol:
    """The evaluation protocol on ``dataset`` (``dsa_ops``: no flip on digits)."""
    return protocol.model_copy(update={"augment": dsa_ops(dataset, protocol.augment)})


def dm_for(dataset: str, config: DMConfig) -> DMConfig:
    """Distribution Matching's settings on ``dataset`` (``dsa_ops``: no flip on digits)."""
    return config.model_copy(update={"augment": dsa_ops(dataset, config.augment)})


class RuntimeParams(BaseModel):
    """Where the distillation pipelines compute: device, torch threads per process, worker processes."""

    model_config = STRICT
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    threads: int = Field(1, ge=1, le=256)  # torch intra-op threads (1 is fastest for these small nets)
    workers: int = Field(1, ge=1, le=64)  # processes for independent jobs (networks, syntheses); CPU only


# Which datasets dsv and dkkt run on (``dsv.data``); loading is in revis.distill.data.
DatasetName = Literal["digits", "shapes", "cifar10"]


class DatasetChoice(BaseModel):
    """One dataset: the chain seeds run on it, and an optional smaller image side."""

    model_config = STRICT
    seeds: list[Seed] = Field(min_length=1, max_length=50)
    image_size: int | None = Field(None, ge=4, le=512)  # resize (area averaging); null: as stored


class DataParams(BaseModel):
    """The datasets (each with its seeds); CIFAR-10 is read from a local folder of official batches."""

    model_config = STRICT
    datasets: dict[DatasetName, DatasetChoice] = Field(min_length=1)
    cifar10_root: DataPath = None  # the local cifar-10-batches-py folder (python -m revis.datasets.fetch cifar10)

    @model_validator(mode="after")
    def _cifar_needs_a_folder(self) -> DataParams:
        if "cifar10" in self.datasets and not self.cifar10_root:
            raise ValueError("cifar10_root must name the local cifar-10-batches-py folder when datasets holds cifar10")
        return self
