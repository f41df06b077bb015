"""params.yaml section ``biice``: one model per stage's sub-section (DVC tracks the keys each stage reads)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from revis.config.runtime import ComputeParams
from revis.config.types import STRICT, DataPath, Fraction, Seeds
from revis.models import ModelConfig

Variant = Literal["linear", "mlp", "biice", "biice_expl"]


class DataParams(BaseModel):
    model_config = STRICT
    dataset: Literal["shapes", "cifar100", "cub"] = "shapes"
    root: DataPath = None  # local folder: cifar-100-python/ or CUB_200_2011/ (read, never downloaded)
    image_size: int = Field(224, ge=8, le=1024)  # cub only: crop to the bird's box, resize to this
    rule_min_frequency: Fraction = 0.1  # cifar100/cub: a class's concepts = those in >= this share of its images

    @model_validator(mode="after")
    def _root_for_real_data(self) -> DataParams:
        if self.dataset != "shapes" and not self.root:
            raise ValueError(f"dataset '{self.dataset}' needs 'root', the local folder holding it")
        return self


class HeadParams(BaseModel):
    model_config = STRICT
    iterations: int = Field(3, ge=1, le=50)  # binding iterations T
    heads: int = Field(1, ge=1, le=64)


class TrainParams(BaseModel):
    model_config = STRICT
    variants: list[Variant] = Field(min_length=1)
    backbone: ModelConfig
    head: HeadParams
    validation_fraction: Fraction  # of the training split, per class, held out to pick the learning rate
    lr_grid: dict[Variant, list[float]]  # per head: candidates; each seed keeps the best on its validation split
    # epochs of every candidate rate before the choice (its best validation accuracy so far); the chosen run goes on
    # to the stopping rule, the others stop (revis.concepts.rates). None: every candidate to its stopping rule
    probe_epochs: int | None = Field(None, ge=1, le=10_000)
    epochs: int = Field(ge=1, le=10_000)  # the most epochs (the schedule's length)
    patience: int | None = Field(None, ge=1, le=10_000)  # early stopping on the validation split; None: all epochs
    batch_size: int = Field(ge=1, le=65_536)
    weight_decay: float = Field(ge=0, le=1)
    warmup_epochs: float = Field(ge=0, le=1000)
    expl_weight: float = Field(gt=0, le=1000)  # weight of the explanation loss in biice_expl
    expl_background: bool = True  # patches without any concept are pulled towards "no concept" (uniform A)
    sparsity_weight: float = Field(ge=0, le=1000)  # entropy of A, both Bi-ICE variants

    @field_validator("backbone")
    @classmethod
    def _patch_backbone(cls, value: ModelConfig) -> ModelConfig:
        if value.name not in ("patch_cnn", "tiny_vit"):
            raise ValueError(f"Bi-ICE works on patch embeddings: use patch_cnn or tiny_vit, not {value.name}")
        return value

    @model_validator(mode="after")
    def _a_grid_per_head(self) -> TrainParams:
        missing = [v for v in self.variants if not self.lr_grid.get(v)]
        if missing:
            raise ValueError(f"lr_grid needs at least one learning rate for {missing}")
        bad = [lr for grid in self.lr_grid.values() for lr in grid if not 0 < lr <= 1]
        if bad:
            raise ValueError(f"learning rates must lie in (0, 1], got {bad}")
        if self.probe_epochs is not None and self.probe_epochs > self.epochs:
            raise ValueError(f"probe_epochs ({self.probe_epochs}) exceeds epochs ({self.epochs})")
        return self


class AttributeParams(BaseModel):
    model_config = STRICT
    match_fraction: (
        Fraction  # share of the test split that maps slots to concepts (a seeded draw); metrics use the rest
    )
    trace_images: int = Field(ge=1, le=100_000)  # held-out test images traced over binding iterations
    trace_iterations: int = Field(ge=1, le=200)  # binding iterations traced for ||S_t - S_{t-1}||
    deletion_images: int = Field(ge=1, le=100_000)
    deletion_steps: int = Field(ge=1, le=1024)
    random_orders: int = Field(ge=1, le=100)
    picture_images: int = Field(ge=1, le=16)


class EvaluateParams(BaseModel):
    model_config = STRICT
    iou_threshold: Fraction  # of the min-max normalised, upsampled map
    random_maps: int = Field(ge=1, le=100)  # draws of the baseline: each run's own maps, patches shuffled per image


class Params(BaseModel):
    """``compute``: where the runs train (``workers`` processes for the runs, one torch thread each)."""

    model_config = STRICT
    seeds: Seeds  # whole chain: validation split, init, batches, lr pick
    data: DataParams
    compute: ComputeParams
    train: TrainParams
    attribute: AttributeParams
    evaluate: EvaluateParams
