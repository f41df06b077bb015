"""params.yaml section ``dkkt`` (distillation from partial data with a Deep-KKT loss).

The teachers θ* are dsv's (trained on the full data: the knowledge an edge device can ship
without its data), one per (dataset, chain seed); ``seeds`` here picks which of dsv's
datasets and seeds dkkt distils from (``dataset -> seeds``), ``fractions`` which fractions of
each dataset's training split are visible. Loading (``dsv.data``) and the evaluation protocol
(``dsv.evaluation``) are dsv's too.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from revis.config.runtime import ComputeParams
from revis.config.types import STRICT, Fraction
from revis.distill.config import DatasetName, DMConfig, SeedsByDataset
from revis.kkt.config import KKTParams

Positive = Annotated[float, Field(gt=0, le=1e6)]
PerClass = Annotated[int, Field(ge=1, le=100_000)]
Fractions = Annotated[list[Fraction], Field(min_length=1)]
NetworksPerSet = Annotated[int, Field(ge=1, le=20)]


class DKKTTerm(KKTParams):
    """λ_dkkt · DeepKKT(S; θ*) added to DM; λ_dkkt (unpublished) is chosen per run from ``grid``.

    Each run carves a validation split (``validation_share`` of each class, outside the starting
    images) from its visible images, distils at every weight of ``grid`` from the rest, scores a
    fresh network per weight on the validation split and keeps the best weight
    (``revis.kkt.synthesis.dm_dkkt_chosen_job``). ``rising_trials`` says what a trial whose loss
    rises becomes: ``restart`` (the guard's rerun at a lower step, then scored) or ``exclude``
    (not restarted, not scored: cheaper, but it can change the choice; README).
    """

    grid: list[Positive] = Field(min_length=1, max_length=8)  # λ_dkkt candidates (the first: the fallback)
    validation_share: float = Field(0.3, gt=0, lt=1)
    # a trial whose loss rises: rerun at a lower step as any run (restart), or left out of the choice (exclude)
    rising_trials: Literal["restart", "exclude"] = "restart"


class DSVSynthesis(BaseModel):
    """DSV synthesis from the same starting images (the DKKT term's settings, no DM)."""

    model_config = STRICT
    steps: int = Field(ge=1, le=1_000_000)
    lr_images: float = Field(gt=0, le=10)


class Distill(BaseModel):
    model_config = STRICT
    ipc: list[PerClass] = Field(min_length=1)  # DM ∪ DSV holds 2·ipc per class and is compared with sets of 2·ipc
    dm: DMConfig
    dkkt: DKKTTerm
    dsv: DSVSynthesis


class Params(BaseModel):
    model_config = STRICT
    seeds: SeedsByDataset  # each needs a dsv teacher of the same dataset and seed (dsv.seeds)
    compute: ComputeParams
    fractions: dict[DatasetName, Fractions]  # visible fractions of the training split (stratified, ≥ 1 per class)
    distill: Distill
    # evaluation networks per set (the reference's num_eval), by dataset; a set scores their mean test accuracy;
    # a dataset not named: 1
    networks: dict[DatasetName, NetworksPerSet] = {}

    @model_validator(mode="after")
    def _fractions_per_dataset(self) -> Params:
        if set(self.fractions) != set(self.seeds):
            raise ValueError(
                f"fractions name the datasets of seeds: fractions has {sorted(self.fractions)}, seeds {sorted(self.seeds)}"
            )
        if not set(self.networks) <= set(self.seeds):
            raise ValueError(f"networks names datasets outside seeds: {sorted(set(self.networks) - set(self.seeds))}")
        return self
