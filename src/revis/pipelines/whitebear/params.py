"""params.yaml section ``whitebear``: prompts, representation analysis, attack and defenses, the negation ablation."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from revis.config.runtime import ComputeParams
from revis.config.types import STRICT, Fraction, Seed, Seeds

KINDS = ("base", "attack", "define", "alternative", "negative_prompt", "negative", "with", "other_negation")


class Pair(BaseModel):
    """One attack: an abstract word, the prohibited object, the concrete alternative of D2 (also the object the
    ``other_negation`` control negates: it must differ from the prohibited object)."""

    model_config = STRICT
    word: str = Field(min_length=1)
    object: str = Field(min_length=1)
    alternative: str = Field(min_length=1)
    definition: str | None = None  # D1's definition; None: the world's definition of the word

    @model_validator(mode="after")
    def _alternative_differs(self) -> Pair:
        if self.alternative == self.object:
            raise ValueError(f"alternative {self.alternative!r} is the prohibited object itself")
        return self


class PromptParams(BaseModel):
    model_config = STRICT
    pairs: list[Pair] = Field(min_length=1)
    templates: dict[str, str] = {}  # overrides of revis.negation.prompts.DEFAULT_TEMPLATES

    @model_validator(mode="after")
    def _known_templates(self) -> PromptParams:
        unknown = sorted(set(self.templates) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown template kinds {unknown} (known: {list(KINDS)})")
        return self


class RepresentationParams(BaseModel):
    model_config = STRICT
    scenes: list[str] = Field(min_length=2)
    objects: list[str] | None = None  # None: every object of the world
    negations: list[str] = Field(min_length=1)
    positive: str = "{scene} with a {object}"
    neutral: str = "{scene} next to a {object}"  # the one-word edit of ``positive`` that the negation is compared with


class AttackParams(BaseModel):
    model_config = STRICT
    images_per_prompt: int = Field(default=24, ge=1, le=10_000)  # per prompt and seed
    steps: int = Field(default=8, ge=1, le=1000)
    guidance_scale: float = Field(default=2.5, ge=1, le=30)
    batch_size: int = Field(default=72, ge=1, le=4096)
    attention_images: int = Field(
        default=16, ge=1, le=1024
    )  # images per attack prompt whose cross-attention is recorded
    grid_images: int = Field(default=8, ge=1, le=32)
    ablation_kinds: list[Literal["base", "attack"]] = Field(default=["base", "attack"], min_length=1)


class AblationParams(BaseModel):
    """Fine-tuning the t2i model with true negations in a share of captions, against the same fine-tuning without."""

    model_config = STRICT
    negation_fraction: Fraction = 0.5
    steps: int = Field(ge=1, le=1_000_000)
    batch_size: int = Field(default=64, ge=1, le=4096)
    lr: float = Field(default=1e-3, gt=0, le=1)
    warmup: int = Field(default=5, ge=0, le=1_000_000)  # steps of linear learning-rate warm-up
    ema_decay: float = Field(default=0.9, ge=0, lt=1)
    seed: Seed = 0


class Params(BaseModel):
    model_config = STRICT
    # whole-chain seeds: seed s samples the t2i model trained with seed s (t2i.seeds) with sampling seed s
    seeds: Seeds
    compute: ComputeParams
    prompts: PromptParams
    representations: RepresentationParams
    attack: AttackParams
    ablation: AblationParams
