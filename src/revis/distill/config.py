"""Schemas shared by the distillation pipelines (dsv, dkkt): Distribution Matching and the evaluation protocol.

Defaults are the reference's (VICO-UoE/DatasetCondensation, ``main_DM.py`` / ``utils.py``);
pipelines scale them down in params.yaml and say so in the README.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from revis.config.types import STRICT, DataPath, Seeds
from revis.models import ModelConfig

AugmentOp = Literal["color", "crop", "cutout", "flip", "scale", "rotate", "noise"]
DSA_STRATEGY: list[AugmentOp] = ["color", "crop", "cutout", "flip", "scale", "rotate"]  # the reference's default


def _reference_convnet() -> ModelConfig:
    # get_default_convnet_setting(): width 128, depth 3, ReLU, instance norm, average pooling;
    # networks.py pads the first convolution by 3 on one-channel images
    return ModelConfig.model_validate(
        {"name": "convnet", "width": 128, "depth": 3, "norm": "instancenorm", "grey_stem_padding": 3}
    )


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


# Which datasets dsv and dkkt run on: the keys of ``<paper>.seeds``; loading is in revis.distill.data.
DatasetName = Literal["digits", "shapes", "cifar10"]
ChainSeeds = Annotated[Seeds, Field(max_length=50)]
# ``<paper>.seeds``: dataset -> its whole-chain seeds (the datasets differ in seed count)
SeedsByDataset = Annotated[dict[DatasetName, ChainSeeds], Field(min_length=1)]
ImageSize = Annotated[int, Field(ge=4, le=512)]


class DataParams(BaseModel):
    """How the datasets load: an optional smaller image side per dataset; CIFAR-10 from a local folder of
    official batches."""

    model_config = STRICT
    image_size: dict[DatasetName, ImageSize] = {}  # resize (area averaging); a dataset not named: as stored
    cifar10_root: DataPath = None  # the local cifar-10-batches-py folder (python -m revis.datasets.fetch cifar10)

    def image_size_of(self, name: str) -> int | None:
        """The image side dataset ``name`` is resized to (None: as stored)."""
        return dict[str, int](self.image_size.items()).get(name)


def check_cifar10_root(seeds: SeedsByDataset, data: DataParams) -> None:
    """CIFAR-10 is read from a local folder: ``data.cifar10_root`` must name it when ``seeds`` hold cifar10."""
    if "cifar10" in seeds and not data.cifar10_root:
        raise ValueError("cifar10_root must name the local cifar-10-batches-py folder when seeds hold cifar10")
