"""Schemas of the DeepKKT settings shared by the dsv and dkkt pipelines (weights by role, synthesis)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from revis.config.types import STRICT
from revis.distill.config import AugmentOp

if TYPE_CHECKING:  # the library (torch) only when weights are built, not when params.yaml is validated
    from revis.kkt.deepkkt import KKTWeights


class KKTWeightsParams(BaseModel):
    """Weights of the DeepKKT terms by role (the paper's α/β/γ are not mapped to roles: unverified)."""

    model_config = STRICT
    w_stat: float = Field(ge=0, le=1e6)  # stationarity ratio
    w_primal: float = Field(ge=0, le=1e6)  # hinge-like cross-entropy
    w_tv: float = Field(0.0, ge=0, le=1e6)
    w_norm: float = Field(0.0, ge=0, le=1e6)
    w_aug: float = Field(ge=0, le=1e6)  # η, the weight of the KKT loss on augmented candidates

    def to_weights(self, primal_only: bool = False) -> KKTWeights:
        """The library's weights; ``primal_only`` zeroes the stationarity term (the paper's ablation)."""
        from revis.kkt.deepkkt import KKTWeights

        values = self.model_dump()
        if primal_only:
            values["w_stat"] = 0.0
        return KKTWeights(**values)


class KKTParams(BaseModel):
    """The DeepKKT objective of a teacher: weights, distance, measured parameters, augmentation, λ's learning rate."""

    model_config = STRICT
    weights: KKTWeightsParams
    distance: Literal["l1", "l2"] = "l1"
    parameters: Literal["identifiable", "all"] = "identifiable"
    augment: list[AugmentOp] = []
    lr_lambda: float = Field(gt=0, le=10)  # Adam, relative to λ's starting value 1/(M·wd)


class SynthesisParams(KKTParams):
    """DSV synthesis (Adam on the candidates and λ)."""

    steps: int = Field(ge=1, le=1_000_000)
    lr_images: float = Field(gt=0, le=10)


def synthesis_params(term: KKTParams, steps: int, lr_images: float) -> SynthesisParams:
    """DSV synthesis settings from a DeepKKT term's objective with their own steps and image learning rate."""
    objective = term.model_dump(include=set(KKTParams.model_fields))
    return SynthesisParams.model_validate({**objective, "steps": steps, "lr_images": lr_images})
