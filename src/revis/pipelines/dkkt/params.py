"""params.yaml section ``dkkt`` (distillation from partial data with a Deep-KKT loss).

The datasets and the CIFAR-10 folder come from ``dsv.data`` (dkkt reuses the dsv teacher θ*,
trained on the full data); ``datasets`` here picks which of them dkkt distils.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from revis.config.types import STRICT, Fraction, Seed
from revis.pipelines.dsv.params import AugmentOp, DatasetName, DMRecipe, KKTWeightsParams, PerClass, Retrain, Runtime

NonNegative = Annotated[float, Field(ge=0)]


class Partial(BaseModel):
    """The visible part of the training split: a stratified random fraction (at least one image per class)."""

    model_config = STRICT
    fractions: list[Fraction] = Field(min_length=1)
    seed: Seed = 0


class DKKTParams(BaseModel):
    """The Deep-KKT term added to DM: λ_dkkt · (stationarity + primal, with augmentation); unpublished values."""

    model_config = STRICT
    weight: float = Field(ge=0)  # λ_dkkt
    sweep: list[NonNegative] = []  # more λ_dkkt values, run at the smallest fraction and ipc
    distance: Literal["l1", "l2"] = "l1"
    weights: KKTWeightsParams
    augment: list[AugmentOp] = []
    lr_lambda: float = Field(gt=0, le=10)


class DSVParams(BaseModel):
    """DSV synthesis from the same real starting images (the DKKT settings, no DM term)."""

    model_config = STRICT
    steps: int = Field(ge=1, le=1_000_000)
    lr_images: float = Field(gt=0, le=10)


class Distill(BaseModel):
    model_config = STRICT
    ipc: list[PerClass] = Field(min_length=1)
    seed: Seed = 0
    dm: DMRecipe
    dkkt: DKKTParams
    dsv: DSVParams


class Params(BaseModel):
    model_config = STRICT
    datasets: list[DatasetName] = Field(min_length=1)
    runtime: Runtime
    partial: Partial
    distill: Distill
    train: Retrain
