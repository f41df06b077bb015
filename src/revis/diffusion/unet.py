"""The small text-conditioned UNet (diffusers ``UNet2DConditionModel``), its noise schedule and samplers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypeVar

import torch
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
from diffusers.schedulers.scheduling_ddim import DDIMScheduler
from diffusers.schedulers.scheduling_ddpm import DDPMScheduler
from diffusers.schedulers.scheduling_dpmsolver_multistep import DPMSolverMultistepScheduler

Sampler = Literal["ddim", "dpm_solver"]


def build_unet(
    image_size: int,
    cross_attention_dim: int,
    block_out_channels: Sequence[int] = (32, 64, 64),
    attention: Sequence[bool] = (False, True, True),
    layers_per_block: int = 1,
    attention_head_dim: int = 32,
    norm_num_groups: int = 8,
    channels: int = 3,
) -> UNet2DConditionModel:
    """A randomly initialized pixel-space ``UNet2DConditionModel`` (its weights come from the caller's seed).

    ``attention``: per level (highest resolution first), cross-attention blocks (text) or plain ResNet blocks.
    ``attention_head_dim``: the channels of one attention head. diffusers' own ``attention_head_dim``
    argument of this class is, for backward compatibility, the number of *heads* (its
    ``num_attention_heads`` is refused), so it gets ``channels // attention_head_dim`` per level.
    """
    if len(attention) != len(block_out_channels):
        raise ValueError("attention needs one flag per entry of block_out_channels")
    if any(c % attention_head_dim for c in block_out_channels):
        raise ValueError(
            f"every entry of block_out_channels must be divisible by attention_head_dim ({attention_head_dim})"
        )
    heads = tuple(c // attention_head_dim for c in block_out_channels)
    downs = tuple("CrossAttnDownBlock2D" if a else "DownBlock2D" for a in attention)
    ups = tuple("CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attention))
    return UNet2DConditionModel(
        sample_size=image_size,
        in_channels=channels,
        out_channels=channels,
        block_out_channels=tuple(block_out_channels),
        down_block_types=downs,
        up_block_types=ups,
        mid_block_type="UNetMidBlock2DCrossAttn",
        layers_per_block=layers_per_block,
        cross_attention_dim=cross_attention_dim,
        attention_head_dim=heads,  # diffusers: heads per level (see above)
        norm_num_groups=norm_num_groups,
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
    """A fast sampler over the same noise schedule: DDIM or DPM-Solver++ (2nd order multistep).

    Pixel space: each step's predicted clean image is kept inside the image range (DDIM's
    ``clip_sample``, DPM-Solver's dynamic thresholding with ``sample_max_value`` 1). Without it
    the first steps of a cosine schedule, where alpha_bar is nearly 0, divide the noise estimate's
    error by sqrt(alpha_bar) and the sample saturates.
    """
    if sampler == "ddim":
        return DDIMScheduler.from_config(training.config, clip_sample=True, clip_sample_range=1.0)
    return DPMSolverMultistepScheduler.from_config(
        training.config, algorithm_type="dpmsolver++", solver_order=2, thresholding=True, sample_max_value=1.0
    )


def training_scheduler_like(scheduler) -> DDPMScheduler:
    """The DDPM forward process with a (sampling) scheduler's noise schedule: to fine-tune a saved model."""
    c = scheduler.config
    return DDPMScheduler(
        num_train_timesteps=c["num_train_timesteps"],
        beta_schedule=c["beta_schedule"],
        beta_start=c["beta_start"],
        beta_end=c["beta_end"],
        prediction_type=c["prediction_type"],
        clip_sample=False,
    )


ModuleT = TypeVar("ModuleT", bound=torch.nn.Module)


def on_device(module: ModuleT, device: torch.device | str) -> ModuleT:
    """``module.to(device)`` typed as the module (diffusers' ``ModelMixin.to`` wrapper loses the type)."""
    module.to(device)
    return module
