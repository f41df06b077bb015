"""Stable Diffusion 1.x from a local diffusers folder, behind the same ``generate`` as the mini model.

Paper scale of whitebear (and orthoemb): ``load_generator(path)`` opens either a saved
``MiniT2IPipeline`` folder or a Stable Diffusion 1.x folder (``model_index.json`` of
``StableDiffusionPipeline``: unet, vae, text_encoder = CLIP ViT-L/14, tokenizer, scheduler),
offline (``local_files_only``), without the safety checker, with DPM-Solver++ or DDIM sampling.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import StableDiffusionPipeline
from diffusers.schedulers.scheduling_ddim import DDIMScheduler
from diffusers.schedulers.scheduling_dpmsolver_multistep import DPMSolverMultistepScheduler

from revis.diffusion.pipeline import load_t2i


def load_stable_diffusion(
    path: str | os.PathLike, device: str | torch.device = "cuda", dtype: str = "float16", sampler: str = "dpm_solver"
) -> StableDiffusionPipeline:
    """A local Stable Diffusion 1.x folder as a pipeline on ``device``; nothing is downloaded."""
    folder = Path(path)
    if not (folder / "model_index.json").is_file():
        raise FileNotFoundError(f"{folder} is not a diffusers folder (no model_index.json)")
    torch_dtype = getattr(torch, dtype) if torch.device(device).type == "cuda" else torch.float32
    pipe = StableDiffusionPipeline.from_pretrained(
        str(folder),
        torch_dtype=torch_dtype,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
        local_files_only=True,
    )
    if sampler == "ddim":
        pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    else:
        pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config, algorithm_type="dpmsolver++")
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def load_generator(path: str | os.PathLike, device: str | torch.device = "cpu", **stable_diffusion: Any) -> Any:
    """A saved mini model (``MiniT2IPipeline``) or a Stable Diffusion 1.x folder, chosen by its model_index.json."""
    index = Path(path) / "model_index.json"
    if not index.is_file():
        raise FileNotFoundError(f"{path} is not a diffusers folder (no model_index.json)")
    kind = json.loads(index.read_text()).get("_class_name")
    if kind == "MiniT2IPipeline":
        return load_t2i(path, device)
    if kind == "StableDiffusionPipeline":
        return load_stable_diffusion(path, device, **stable_diffusion)
    raise ValueError(f"{path}: pipeline class {kind!r} is neither MiniT2IPipeline nor StableDiffusionPipeline")


# Stable Diffusion 1.5's UNet (runwayml/stable-diffusion-v1-5, unet/config.json): block structure and attention layout
SD15_DOWN_BLOCKS = ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D")
SD15_UP_BLOCKS = ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D")
SD15_WIDTH_RATIOS = (1, 2, 4, 4)  # 320, 640, 1280, 1280
SD15_HEADS = 8  # diffusers' attention_head_dim of SD 1.x: the number of heads
SD15_TRANSFORMER_BLOCKS = {"down_blocks": 6, "mid_block": 1, "up_blocks": 9}  # attn1/attn2 pairs per part


def sd15_like_unet(
    width: int = 320, cross_attention_dim: int = 768, sample_size: int = 64, norm_num_groups: int = 32
) -> UNet2DConditionModel:
    """A random ``UNet2DConditionModel`` with SD 1.5's blocks, layers per block, heads and attention layout.

    ``width`` 320 with the defaults is SD 1.5's configuration; tests use tiny widths (a multiple of
    ``norm_num_groups`` and of the 8 heads) so that processors run on the real layer structure.
    """
    return UNet2DConditionModel(
        sample_size=sample_size,
        in_channels=4,
        out_channels=4,
        down_block_types=SD15_DOWN_BLOCKS,
        up_block_types=SD15_UP_BLOCKS,
        mid_block_type="UNetMidBlock2DCrossAttn",
        block_out_channels=tuple(width * r for r in SD15_WIDTH_RATIOS),
        layers_per_block=2,
        attention_head_dim=SD15_HEADS,
        cross_attention_dim=cross_attention_dim,
        norm_num_groups=norm_num_groups,
    )
