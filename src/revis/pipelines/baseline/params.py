"""params.yaml section ``baseline``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from revis.config.types import STRICT, Seeds
from revis.models import ModelConfig


class Params(BaseModel):
    model_config = STRICT
    datasets: list[Literal["shapes", "digits"]] = Field(min_length=1)
    seeds: Seeds
    model: ModelConfig
    epochs: int = Field(ge=1, le=10_000)
    batch_size: int = Field(ge=1, le=65_536)
    lr: float = Field(gt=0, le=10)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(5e-4, ge=0, le=1)

    def concurrent_models(self, key: str) -> int:
        """baseline-train trains one model per (dataset, seed) at once, on threads (revis.config.memory)."""
        return len(self.datasets) * len(self.seeds)
