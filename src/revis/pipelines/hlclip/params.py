"""params.yaml section ``hlclip``: fine-tuning and evaluation (``revis.highlights``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from revis.config.runtime import ComputeParams
from revis.config.types import STRICT, Seeds
from revis.vl.config import VideoDataParams


class TrainParams(BaseModel):
    """One fine-tuning per (arm, seed); seed s starts from the vl encoder of seed s (``hlclip.seeds``)."""

    model_config = STRICT
    last_layers: int = Field(default=2, ge=1, le=48)  # HL-CLIP: the last two blocks (+ heads) of each tower
    full: bool = True  # also fine-tune every block (the comparison arm)
    full_tables: bool = False  # full tuning includes the token-embedding tables
    steps: int = Field(ge=1, le=100_000)  # the same for both arms
    videos_per_batch: int = Field(default=8, ge=1, le=1024)  # N
    frames_per_video: int = Field(default=16, ge=1, le=1024)  # K
    lr: float = Field(default=1e-4, gt=0, le=1)
    weight_decay: float = Field(default=0.0, ge=0, le=1)
    normalisation: Literal["mean_div4", "mean_minmax", "mean_div4_signed"] = "mean_div4"
    cache_prefix: bool = True  # keep the frozen prefix of every training frame in memory (mini world)


class EvaluateParams(BaseModel):
    model_config = STRICT
    windows: list[int] = Field(default=[0, 1, 2, 3], min_length=1)  # saliency pooling w, swept
    select_w_queries: int = Field(default=200, ge=1, le=100_000)  # training queries that choose w per arm and seed
    picture_queries: int = Field(default=3, ge=1, le=20)
    head_steps: int = Field(default=300, ge=0, le=100_000)  # the saliency-head baseline on frozen features (0: off)
    head_hidden: int = Field(default=64, ge=4, le=4096)

    @field_validator("windows")
    @classmethod
    def _includes_zero(cls, windows: list[int]) -> list[int]:
        if 0 not in windows or min(windows) < 0 or max(windows) > 20 or len(set(windows)) != len(windows):
            raise ValueError(f"windows must be distinct values in [0, 20] including 0 (no pooling), got {windows}")
        return sorted(windows)


class Params(BaseModel):
    model_config = STRICT
    seeds: Seeds = Field(max_length=20)  # seed s fine-tunes the vl encoder of seed s
    compute: ComputeParams = Field(
        default_factory=ComputeParams
    )  # workers: fine-tunings at once, one process and one CPU thread each
    data: VideoDataParams = Field(default_factory=VideoDataParams)
    train: TrainParams
    evaluate: EvaluateParams = Field(default_factory=EvaluateParams)
