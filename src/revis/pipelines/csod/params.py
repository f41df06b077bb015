"""params.yaml section ``csod``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from revis.config.types import STRICT, Seed

Method = Literal["random", "balanced_random", "csod", "facility_location", "k_center"]
Layer = Literal["backbone_p3", "backbone_p4", "backbone_p5", "neck_p3", "neck_p4", "neck_p5"]


class DataParams(BaseModel):
    """Where the images come from: the mini world (``voc_root: null``) or a local VOCdevkit."""

    model_config = STRICT
    voc_root: str | None = None
    train_splits: list[str] = Field(min_length=1)  # world: split names; VOCdevkit: "VOC2007/trainval", ...
    test_split: str

    @model_validator(mode="after")
    def _specs(self) -> DataParams:
        if self.voc_root is not None:
            for spec in [*self.train_splits, self.test_split]:
                if spec.count("/") != 1:
                    raise ValueError(
                        f"with voc_root, splits read '<year folder>/<split>' (e.g. VOC2007/test), got {spec!r}"
                    )
        return self


class YoloParams(BaseModel):
    """ultralytics training settings shared by the feature detector and every subset's detector."""

    model_config = STRICT
    model: str = Field(pattern=r"\.yaml$")  # a model yaml: trained from scratch, nothing downloaded
    imgsz: int = Field(ge=32, le=2048, multiple_of=32)
    batch: int = Field(ge=1, le=1024)
    optimizer: Literal["SGD", "Adam", "AdamW"]
    lr0: float = Field(gt=0, le=1)
    warmup_epochs: float = Field(ge=0, le=100)
    mosaic: float = Field(ge=0, le=1)
    close_mosaic: int = Field(ge=0, le=10_000)
    device: str = "cpu"


class FeaturesParams(BaseModel):
    model_config = STRICT
    epochs: int = Field(ge=1, le=10_000)  # the feature detector, trained on the whole train pool
    seed: Seed = 0
    layer: Layer
    roi_size: int = Field(ge=1, le=32)


class CsodParams(BaseModel):
    model_config = STRICT
    lam: float = Field(ge=0)
    reduction: Literal["sum", "mean"]
    multi_class: Literal["shared", "per_class"]
    class_order: Literal["index", "rarest_first"]


class LambdaSweep(BaseModel):
    model_config = STRICT
    values: list[float] = Field(min_length=1)  # include 0 (the paper: below a threshold CSOD loses to random)
    budgets: list[int] = Field(min_length=1)


class SelectParams(BaseModel):
    model_config = STRICT
    methods: list[Method] = Field(min_length=1)
    budgets: list[int] = Field(min_length=1)
    seeds: list[Seed] = Field(min_length=1)
    csod: CsodParams
    lambda_sweep: LambdaSweep

    @model_validator(mode="after")
    def _budgets(self) -> SelectParams:
        if any(b < 1 for b in [*self.budgets, *self.lambda_sweep.budgets]):
            raise ValueError("budgets must be >= 1 image")
        if any(v < 0 for v in self.lambda_sweep.values):
            raise ValueError("lambda_sweep.values must be >= 0")
        if len(set(self.budgets)) != len(self.budgets) or len(set(self.seeds)) != len(self.seeds):
            raise ValueError("budgets and seeds must not repeat")
        if "random" not in self.methods:
            raise ValueError("methods must include 'random' (the gap CSOD - random is the headline)")
        return self


class TrainParams(BaseModel):
    model_config = STRICT
    # optimiser steps per subset's detector, the same for every budget: epochs = ceil(steps / batches per epoch)
    steps: int = Field(ge=1, le=10_000_000)
    workers: int = Field(ge=1, le=64)  # detectors trained at once, one process (one CPU thread) each


class Params(BaseModel):
    model_config = STRICT
    data: DataParams
    yolo: YoloParams
    features: FeaturesParams
    select: SelectParams
    train: TrainParams
