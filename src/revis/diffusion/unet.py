"""The small text-conditioned UNet (diffusers ``UNet2DConditionModel``), its noise schedule and samplers."""

from __future__ import annotations

from typing import Literal

from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler, UNet2DConditionModel

from revis.diffusion.config import UNetConfig

Sampler = Literal["ddim", "dpm_solver"]
__all__ = ["UNetConfig", "build_unet", "sampling_scheduler", "training_scheduler", "training_scheduler_like"]


def build_unet(
    config: UNetConfig, image_size: int, cross_attention_dim: int, channels: int = 3
) -> UNet2DConditionModel:
    """A randomly initialised ``UNet2DConditionModel`` (its weights come from the caller's seed)."""
    downs = tuple("CrossAttnDownBlock2D" if a else "DownBlock2D" for a in config.attention)
    ups = tuple("CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(config.attention))
    return UNet2DConditionModel(
        sample_size=image_size,
        in_channels=channels,
        out_channels=channels,
        block_out_channels=tuple(config.block_out_channels),
        down_block_types=downs,
        up_block_types=ups,
        mid_block_type="UNetMidBlock2DCrossAttn",
        layers_per_block=config.layers_per_block,
        cross_attention_dim=cross_attention_dim,
        attention_head_dim=config.attention_head_dim,
        norm_num_groups=config.norm_num_groups,
    )


def training_scheduler(num_train_timesteps: int = 1000, beta_schedule: str = "squaredcos_cap_v2") -> DDPMScheduler:
    """The DDPM forward process the UNet is trained on (epsilon prediction)."""
    return DDPMScheduler(
        num_train_timesteps=num_train_timesteps,
        beta_schedule=beta_schedule,
        prediction_type="epsilon",
        clip_sample=False,
    )


def sampling_scheduler(training: DDPMScheduler, sampler: Sampler = "dpm_solver"):
    """A fast sampler over the same noise schedule: DDIM or DPM-Solver++ (2nd order multistep)."""
    if sampler == "ddim":
        return DDIMScheduler.from_config(training.config)
    return DPMSolverMultistepScheduler.from_config(training.config, algorithm_type="dpmsolver++", solver_order=2)


def training_scheduler_like(scheduler) -> DDPMScheduler:
    """The DDPM forward process with a (sampling) scheduler's noise schedule: to fine-tune a saved model."""
    c = scheduler.config
    return DDPMScheduler(
        num_train_timesteps=c.num_train_timesteps,
        beta_schedule=c.beta_schedule,
        beta_start=c.beta_start,
        beta_end=c.beta_end,
        prediction_type=c.prediction_type,
        clip_sample=False,
    )
