"""params.yaml section ``gig``: one model per stage's sub-section (DVC tracks the keys each stage reads)."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from revis.config.runtime import ComputeParams
from revis.config.types import STRICT, DataPath, Fraction, Seed, Seeds
from revis.models import ModelConfig

Method = Literal["riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid"]


class Data(BaseModel):
    """Which images: the shapes world (default) or an ImageNet-format folder (paper scale)."""

    model_config = STRICT
    source: Literal["shapes", "imagefolder"] = "shapes"
    root: DataPath = None  # imagefolder: root/<class>/<image>
    image_size: int = Field(224, ge=8, le=1024)  # imagefolder only
    per_class: int = Field(10, ge=2, le=100_000)  # imagefolder only: images kept per class
    test_fraction: Fraction = 0.5  # imagefolder only: held out for attribution and evaluation
    # per-channel (mean, std) applied inside the model, e.g. ImageNet's for pretrained weights
    normalize: list[list[float]] | None = None
    seed: Seed = 0  # imagefolder only: which images, which split

    @field_validator("normalize")
    @classmethod
    def _runnable_normalize(cls, normalize: list[list[float]] | None) -> list[list[float]] | None:
        """Finite means and positive finite stds: the model divides by the std."""
        if normalize is None:
            return None
        if len(normalize) != 2 or len(normalize[0]) != len(normalize[1]) or not normalize[0]:
            raise ValueError("normalize is [[mean per channel], [std per channel]]")
        means, stds = normalize
        if not all(math.isfinite(m) for m in means):
            raise ValueError(f"normalize means must be finite numbers, got {means}")
        if not all(math.isfinite(s) and s > 0 for s in stds):
            raise ValueError(f"normalize stds must be finite and > 0 (the images are divided by them), got {stds}")
        return normalize

    @model_validator(mode="after")
    def _folder_needs_root(self) -> Data:
        if self.source == "imagefolder" and not self.root:
            raise ValueError("source 'imagefolder' needs 'root' (the folder of class folders)")
        return self


class Train(BaseModel):
    """The classifier, one per seed; ``epochs: 0`` uses the model as built (e.g. pretrained weights)."""

    model_config = STRICT
    model: ModelConfig
    epochs: int = Field(ge=0, le=10_000)
    batch_size: int = Field(128, ge=1, le=65_536)
    lr: float = Field(0.05, gt=0, le=10)


class Features(BaseModel):
    """Contribution-weighted PFV sampling per layer."""

    model_config = STRICT
    layers: list[str] | None = None  # None: every block of the model
    n_images: int = Field(ge=2, le=1_000_000)  # training images whose PFVs are sampled (a seeded draw)
    per_image: int = Field(ge=1, le=100_000)  # PFVs drawn per image and layer
    uniform_share: float = Field(0.05, ge=0, le=1)  # share of uniform sampling mixed in


class Concepts(BaseModel):
    """Concept vectors (bisecting k-means; dictionary learning, a sparse autoencoder and random directions
    to compare) and Lasso."""

    model_config = STRICT
    ratio: float = Field(gt=0, le=64)  # k = ratio x channels (paper: 8)
    lasso_alpha: float = Field(gt=0, le=10)  # lam = lasso_alpha x median PFV norm of the layer
    positive: bool = True  # non-negative coefficients (and dictionary atoms)
    dictlearn_iter: int = Field(20, ge=1, le=10_000)
    sae_steps: int = Field(1000, ge=1, le=1_000_000)  # Adam steps of the sparse autoencoder (minibatches of 256)
    sae_lr: float = Field(3e-3, gt=0, le=1)


class Attribute(BaseModel):
    """GIG between consecutive layers and from every layer to the classes, on a seeded test subset."""

    model_config = STRICT
    n_images: int = Field(ge=1, le=100_000)  # test images per seed (attribution, evaluation, alignment)
    n_steps: int = Field(ge=2, le=10_000)  # m of the Riemann sum
    method: Method = "riemann_right"
    max_targets: int = Field(ge=1, le=100_000)  # layer-b concepts per pair (the most built-up ones)
    steps_sweep: list[int] = Field(min_length=2, max_length=16)  # completeness gap for each m
    sweep_images: int = Field(ge=1, le=100_000)
    sweep_targets: int = Field(2, ge=1, le=1_000)  # layer-b concepts per pair in the sweep
    internal_batch_size: int = Field(512, ge=1, le=1_000_000)

    @model_validator(mode="after")
    def _steps(self) -> Attribute:
        if any(m < 2 for m in self.steps_sweep) or self.steps_sweep != sorted(set(self.steps_sweep)):
            raise ValueError("steps_sweep must be increasing step counts >= 2")
        return self


class Evaluate(BaseModel):
    model_config = STRICT
    targets_per_pair: int = Field(ge=1, le=10_000)  # layer-b concepts used as deletion/insertion targets
    curve_points: int | None = Field(33, ge=2, le=100_000)  # deletion/insertion points (None: one per concept)
    alignment_concepts: int = Field(ge=1, le=100_000)  # concepts per layer and basis scored (a seeded draw)
    alignment_max_images: int = Field(ge=1, le=100_000)  # a concept's ERFs on its most active images
    min_images: int = Field(5, ge=1, le=100_000)  # a (concept, ground-truth concept) pair needs this many
    atlas_concepts: int = Field(8, ge=1, le=64)  # concepts per layer shown in the atlas (seed 0)
    atlas_crops: int = Field(6, ge=1, le=32)
    graph_nodes: int = Field(16, ge=1, le=256)  # concepts (and classes) drawn per column, most important first
    graph_edges: int = Field(2, ge=1, le=64)  # strongest incoming edges drawn per node


class Params(BaseModel):
    """``compute``: where the networks run (Lasso, k-means, dictionary learning and the sparse autoencoder
    stay on the CPU) and how many seeds run at once (``workers`` processes, one torch thread each)."""

    model_config = STRICT
    seeds: Seeds  # whole chain: network, PFVs, concepts, images
    compute: ComputeParams
    data: Data
    train: Train
    features: Features
    concepts: Concepts
    attribute: Attribute
    evaluate: Evaluate

    def concurrent_models(self, key: str) -> int:
        """Per-seed jobs run ``compute.workers`` at a time, one model each (revis.config.memory)."""
        return min(self.compute.workers, len(self.seeds))
