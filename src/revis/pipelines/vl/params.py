"""params.yaml section ``vl``: the vision-language encoder (``revis.vl``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from revis.config.runtime import ComputeParams
from revis.config.types import STRICT, Seed, Seeds
from revis.vl.config import EncoderConfig, VideoDataParams


class PretrainWorld(BaseModel):
    """A video world of its own to pretrain on (CLIP's web data): another draw, optionally a broader vocabulary.

    Every family is a training family; the other generator settings are ``WorldConfig``'s defaults (those of
    ``videos``). Without ``include_train_split`` the highlight world (``videos``) is never seen in pretraining;
    with it, pretraining is a superset of its training split. Either way hlclip's and merlin's val/test videos
    are unseen, and the broad vocabulary makes the pretraining distribution wider than theirs.
    """

    model_config = STRICT
    seed: Seed = 1
    n_families: int = Field(default=250, ge=5, le=5000)
    vocabulary: Literal["base", "broad"] = "broad"
    include_train_split: bool = False  # also videos' training split: a superset of the highlight world's training data


class TrainParams(BaseModel):
    """Contrastive pretraining, one encoder per seed (kind clip: nothing is trained)."""

    model_config = STRICT
    steps: int = Field(ge=1, le=100_000)
    batch_size: int = Field(default=128, ge=2, le=8192)
    lr: float = Field(default=2e-3, gt=0, le=1)
    weight_decay: float = Field(default=0.05, ge=0, le=1)
    warmup: int = Field(default=20, ge=0, le=10_000)
    partial_texts: int = Field(default=0, ge=0, le=8)  # mini world: extra query-like texts per event clip
    world: PretrainWorld | None = None  # mini world: pretrain on this world, not on videos' training split


class EvaluateParams(BaseModel):
    model_config = STRICT
    ks: list[int] = Field(default=[1, 5], min_length=1)
    matrix_size: int = Field(default=24, ge=2, le=200)  # distinct contents in the similarity-matrix picture


class Params(BaseModel):
    model_config = STRICT
    seeds: Seeds = Field(max_length=20)  # whole-chain seeds: one encoder per seed
    compute: ComputeParams = Field(
        default_factory=ComputeParams
    )  # workers: seeds trained at once, one process and one CPU thread each
    data: VideoDataParams = Field(default_factory=VideoDataParams)
    encoder: EncoderConfig
    train: TrainParams
    evaluate: EvaluateParams = Field(default_factory=EvaluateParams)
