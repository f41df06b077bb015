"""params.yaml section ``orthoemb``: the subject encoder, the two fixes (projection, swap) and the evaluation."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from revis.config.runtime import ComputeParams
from revis.config.types import STRICT, FloatRange, Seeds


class AlignParams(BaseModel):
    """Image-text alignment of each subject encoder before its denoising steps (text encoder only, no UNet)."""

    model_config = STRICT
    steps: int = Field(default=0, ge=0, le=100_000)  # 0: no alignment (the denoising loss alone)
    batch_size: int = Field(default=64, ge=1, le=4096)
    lr: float = Field(default=3e-3, gt=0, le=1)
    temperature: float = Field(default=0.05, gt=0, le=10)


class TrainParams(BaseModel):
    """Subject encoders (one per whole-chain seed) on single-subject references, frozen t2i UNet and text encoder."""

    model_config = STRICT
    n_references: int = Field(default=2000, ge=4, le=200_000)
    radius: FloatRange = [0.17, 0.22]
    pose_in_text: float = Field(default=0.5, ge=0, le=1)  # share of training prompts that state the reference's region
    tokens: int = Field(default=2, ge=1, le=16)  # k visual pseudo-tokens
    width: int = Field(default=32, ge=4, le=512)
    steps: int = Field(default=200, ge=1, le=100_000)
    batch_size: int = Field(default=32, ge=1, le=4096)
    lr: float = Field(default=1e-3, gt=0, le=1)
    warmup: int = Field(default=20, ge=0, le=10_000)
    min_snr_gamma: float | None = Field(default=5.0, gt=0)
    align: AlignParams = AlignParams()


class FixParams(BaseModel):
    """The paper's two fixes; what the paper leaves open is a parameter."""

    model_config = STRICT
    # text rows spanning Q: the prompt's word tokens, or also [CLS]/[SEP] (unverified in the paper)
    basis_tokens: Literal["words", "words_and_special"] = "words"
    swap_layers: Literal["decoder", "encoder", "mid", "all"] = "decoder"
    swap_start_step: int = Field(default=2, ge=0, le=1000)  # the first sampler step whose self-attention is swapped
    swap_end_step: int | None = Field(default=None, ge=1, le=1000)  # None: to the last step

    @model_validator(mode="after")
    def _steps_ordered(self) -> FixParams:
        if self.swap_end_step is not None and self.swap_end_step <= self.swap_start_step:
            raise ValueError("swap_end_step must be after swap_start_step")
        return self


class EvaluateParams(BaseModel):
    """Pose-changing prompts, six arms, judged; the pictures."""

    model_config = STRICT
    arms: list[Literal["text", "visual", "full", "mean", "swap", "both"]] = Field(
        default=["text", "visual", "full", "mean", "swap", "both"], min_length=2
    )
    n_cases: int = Field(default=48, ge=2, le=50_000)  # references (and images) per arm and seed
    steps: int = Field(default=8, ge=1, le=1000)
    guidance_scale: float = Field(default=2.5, ge=1, le=30)
    batch_size: int = Field(default=64, ge=1, le=4096)
    grid_cases: int = Field(default=6, ge=1, le=32)
    attention_cases: int = Field(default=4, ge=1, le=32)

    @model_validator(mode="after")
    def _baseline_arm(self) -> EvaluateParams:
        if "visual" not in self.arms:
            raise ValueError("arms must include 'visual' (the arm every fix is compared with)")
        return self


class Params(BaseModel):
    model_config = STRICT
    # whole-chain seeds: seed s draws encoder s's references, initializes and trains it, draws the evaluation cases and noise
    seeds: Seeds = Field(default=[0, 1, 2], max_length=10)
    compute: ComputeParams
    train: TrainParams = TrainParams()
    fixes: FixParams = FixParams()
    evaluate: EvaluateParams = EvaluateParams()
