"""params.yaml section ``dsv`` (Deep Support Vectors), one sub-section per stage."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from revis.config.types import STRICT, Seed
from revis.models import ModelConfig

DatasetName = Literal["digits", "shapes", "cifar10"]
PerClass = Annotated[int, Field(ge=1, le=100_000)]  # images per class
AugmentOp = Literal["color", "crop", "cutout", "flip", "scale", "rotate", "noise"]


class Data(BaseModel):
    """Which image-classification sets to run on; CIFAR-10 is read from a local folder."""

    model_config = STRICT
    datasets: list[DatasetName] = Field(min_length=1)
    cifar10_root: str | None = None  # the official python batches (cifar-10-batches-py); see revis.datasets.fetch

    @model_validator(mode="after")
    def _cifar_needs_a_folder(self) -> Data:
        if "cifar10" in self.datasets and not self.cifar10_root:
            raise ValueError("cifar10_root must name the local cifar-10-batches-py folder when datasets holds cifar10")
        return self


class Runtime(BaseModel):
    model_config = STRICT
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    threads: int = Field(1, ge=1, le=256)  # torch intra-op threads on CPU (1 is fastest for small nets on a busy box)


class Training(BaseModel):
    """A classifier recipe (revis.training.TrainConfig) plus the architecture."""

    model_config = STRICT
    model: ModelConfig
    epochs: int = Field(ge=1, le=100_000)
    batch_size: int = Field(ge=1, le=65_536)
    optimizer: Literal["sgd", "adam"] = "sgd"
    lr: float = Field(gt=0, le=10)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(ge=0, le=1)
    schedule: Literal["cosine", "step", "constant"] = "cosine"
    augment: Literal["none", "flip_crop", "crop"] = "none"


class Teacher(Training):
    seed: Seed = 0


class Select(BaseModel):
    """λ for the real training samples, then top-λ and random subsets per class."""

    model_config = STRICT
    steps: int = Field(ge=1, le=1_000_000)
    lr: float = Field(gt=0, le=10)  # relative to the fitted starting λ
    distance: Literal["l1", "l2"] = "l1"
    sizes: list[PerClass] = Field(min_length=1)
    random_seeds: list[Seed] = Field(min_length=1)
    chunk_size: int = Field(256, ge=1)


class KKTWeightsParams(BaseModel):
    model_config = STRICT
    w_stat: float = Field(ge=0)
    w_primal: float = Field(ge=0)
    w_tv: float = Field(0.0, ge=0)
    w_norm: float = Field(0.0, ge=0)
    w_aug: float = Field(ge=0)  # η, the weight of the KKT loss on augmented candidates


class Distill(BaseModel):
    """DSV synthesis: 0-shot (noise) and few-shot (``ipc`` real images per class), full and primal-only."""

    model_config = STRICT
    ipc: list[PerClass] = Field(min_length=1)  # images (= shots for few-shot) per class
    steps: int = Field(ge=1, le=1_000_000)
    lr_images: float = Field(gt=0, le=10)
    lr_lambda: float = Field(gt=0, le=10)  # relative to the fitted starting λ
    distance: Literal["l1", "l2"] = "l1"
    weights: KKTWeightsParams
    augment: list[AugmentOp] = []
    primal_only_ablation: bool = True
    shots_seed: Seed = 0
    seed: Seed = 0


class DMRecipe(BaseModel):
    """Distribution Matching's optimiser and embedding network (shared with dkkt)."""

    model_config = STRICT
    iterations: int = Field(ge=1, le=1_000_000)
    lr: float = Field(gt=0, le=100)
    momentum: float = Field(ge=0, lt=1)
    batch_real: int = Field(ge=1)
    model: ModelConfig
    augment: list[AugmentOp] = []


class DM(DMRecipe):
    """Distribution Matching at equal shots (the few-shot baseline)."""

    seed: Seed = 0


class Retrain(Training):
    seeds: list[Seed] = Field(min_length=1)


class Params(BaseModel):
    model_config = STRICT
    data: Data
    runtime: Runtime
    teacher: Teacher
    select: Select
    distill: Distill
    dm: DM
    retrain: Retrain
