"""params.yaml section ``dsv`` (Deep Support Vectors), one sub-section per stage.

``seeds`` names the datasets and each one's whole-chain seeds (a seed varies the teacher, the λ
fit, the random subsets and shots, the synthesis and the evaluation networks); ``data`` says how
they load and ``evaluation`` is the distillation protocol, both shared with dkkt
(``revis.distill.DataParams``, ``revis.distill.EvalProtocol``); ``compute`` where tensors live.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from revis.config.runtime import ComputeParams
from revis.config.types import STRICT
from revis.distill.config import DataParams, DatasetName, EvalProtocol, SeedsByDataset, check_cifar10_root
from revis.kkt.config import SynthesisParams
from revis.models import ModelConfig

if TYPE_CHECKING:  # the library imports torch: params.py must not at import time
    from revis.training import TrainConfig

PerClass = Annotated[int, Field(ge=1, le=100_000)]  # images per class


class TeacherOverride(BaseModel):
    """A dataset's own SGD length, batch and learning rate (a field left out keeps the shared value)."""

    model_config = STRICT
    epochs: int | None = Field(default=None, ge=1, le=100_000)
    batch_size: int | None = Field(default=None, ge=1, le=65_536)
    lr: float | None = Field(default=None, gt=0, le=10)


class Teacher(BaseModel):
    """θ*: SGD with the weight decay of the KKT derivation, then L-BFGS to its stationary point."""

    model_config = STRICT
    model: ModelConfig
    epochs: int = Field(ge=1, le=100_000)
    per_dataset: dict[DatasetName, TeacherOverride] = {}  # a dataset's own epochs / batch size / lr
    batch_size: int = Field(ge=1, le=65_536)
    optimizer: Literal["sgd", "adam"] = "sgd"
    lr: float = Field(gt=0, le=10)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(gt=0, le=1)  # wd of the derivation: λ_i = 1/(N·wd) at the KKT point
    schedule: Literal["cosine", "step", "constant"] = "cosine"
    augment: Literal["none", "flip_crop", "crop"] = "none"
    polish_iterations: int = Field(200, ge=0, le=100_000)  # L-BFGS iterations on the identifiable parameters

    def recipe(self, dataset: str | None = None) -> TrainConfig:
        """The SGD part for ``dataset`` as ``revis.training.TrainConfig``: every field but the model and the
        L-BFGS polish, with the fields ``per_dataset`` sets for ``dataset`` replaced."""
        from revis.training import TrainConfig

        own = dict[str, TeacherOverride](self.per_dataset.items()).get(dataset or "", TeacherOverride())
        return TrainConfig(
            epochs=own.epochs or self.epochs,
            batch_size=own.batch_size or self.batch_size,
            lr=own.lr or self.lr,
            momentum=self.momentum,
            weight_decay=self.weight_decay,
            optimizer=self.optimizer,
            schedule=self.schedule,
            augment=self.augment,
        )


class Select(BaseModel):
    """λ for the real samples (per-sample gradients, fixed images), then top-λ and random subsets per class."""

    model_config = STRICT
    steps: int = Field(ge=1, le=1_000_000)
    lr: float = Field(gt=0, le=10)  # Adam, relative to λ's starting value 1/(N·wd)
    distance: Literal["l1", "l2"] = "l1"
    parameters: Literal["identifiable", "all"] = "identifiable"
    sizes: list[PerClass] = Field(min_length=1)
    chunk_size: int = Field(256, ge=1, le=65_536)
    method: Literal["matrix", "implicit"] = "matrix"  # implicit: no N x P matrix (one backward + one jvp per step)


class Distill(SynthesisParams):
    """DSV synthesis: 0-shot (noise) and few-shot (from the random real subset of the same seed) per ipc."""

    ipc: list[PerClass] = Field(min_length=1)  # images (= shots for few-shot) per class
    primal_only_at: list[PerClass] = Field(default_factory=list)  # ipc values that also run the primal-only ablation


class Params(BaseModel):
    model_config = STRICT
    seeds: SeedsByDataset
    compute: ComputeParams
    data: DataParams
    teacher: Teacher
    select: Select
    distill: Distill
    evaluation: EvalProtocol

    @model_validator(mode="after")
    def _shots_are_selected(self) -> Params:
        missing = sorted(set(self.distill.ipc) - set(self.select.sizes))
        if missing:
            raise ValueError(
                f"distill.ipc {missing} must be in select.sizes: few-shot DSVs start from those random subsets"
            )
        check_cifar10_root(self.seeds, self.data)
        return self
