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
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler, StableDiffusionPipeline

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
