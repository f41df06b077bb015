"""One generation interface for the mini model and Stable Diffusion 1.x: ``generate(pipe, prompts, negative_prompt, seed)``.

Image i of a call depends only on (seed, i, its prompt): the initial noise of all images is drawn
at once from ``seed`` and handed to the pipeline batch by batch, so the batch size never changes
a picture. Returns uint8 (N, H, W, 3), ``images_per_prompt`` consecutive images per prompt.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from diffusers.pipelines.pipeline_utils import ImagePipelineOutput

from revis.diffusion.pipeline import MiniT2IPipeline, images_to_uint8


def _expand(values: str | list[str] | None, n: int, name: str) -> list[str] | None:
    if values is None or isinstance(values, str):
        return None if values is None else [values] * n
    if len(values) != n:
        raise ValueError(f"{len(values)} {name} for {n} prompts")
    return list(values)


def generate(
    pipe: Any,
    prompts: list[str],
    negative_prompt: str | list[str] | None = None,
    seed: int = 0,
    *,
    images_per_prompt: int = 1,
    steps: int = 20,
    guidance_scale: float = 3.0,
    batch_size: int = 64,
    cross_attention_kwargs: dict[str, Any] | None = None,
) -> np.ndarray:
    """uint8 images for each prompt (``images_per_prompt`` each); ``negative_prompt`` one for all or one per prompt."""
    prompts = list(prompts)
    negatives = _expand(negative_prompt, len(prompts), "negative prompts")
    flat = [p for p in prompts for _ in range(images_per_prompt)]
    flat_neg = None if negatives is None else [q for q in negatives for _ in range(images_per_prompt)]
    unet = pipe.unet
    size = unet.config.sample_size
    shape = (len(flat), unet.config.in_channels, size, size)
    noise = torch.randn(shape, generator=torch.Generator().manual_seed(seed)).to(unet.device, unet.dtype)
    cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    if isinstance(
        pipe, MiniT2IPipeline
    ):  # encode each distinct prompt once (the text encoder costs as much as the UNet here)
        distinct = sorted(set(flat) | set(flat_neg or []) | ({""} if flat_neg is None else set()))
        states, mask = pipe.encode_prompt(distinct)
        cache = {p: (states[i], mask[i]) for i, p in enumerate(distinct)}
    out = []
    for start in range(0, len(flat), batch_size):
        batch = flat[start : start + batch_size]
        neg = None if flat_neg is None else flat_neg[start : start + batch_size]
        kwargs: dict[str, Any] = dict(
            num_inference_steps=steps,
            guidance_scale=guidance_scale,
            latents=noise[start : start + len(batch)],
            output_type="np",
        )
        if cross_attention_kwargs:
            kwargs["cross_attention_kwargs"] = cross_attention_kwargs
        if cache:
            kwargs["prompt_embeds"] = torch.stack([cache[p][0] for p in batch])
            kwargs["prompt_attention_mask"] = torch.stack([cache[p][1] for p in batch])
            negs = neg if neg is not None else [""] * len(batch)
            kwargs["negative_prompt_embeds"] = torch.stack([cache[q][0] for q in negs])
            kwargs["negative_prompt_attention_mask"] = torch.stack([cache[q][1] for q in negs])
        else:
            kwargs["prompt"] = batch
            kwargs["negative_prompt"] = neg
        out.append(images_to_uint8(np.asarray(pipe(**kwargs).images)))
    return np.concatenate(out) if out else np.zeros((0, size, size, 3), dtype=np.uint8)


def redenoise(
    pipe: MiniT2IPipeline,
    images: np.ndarray,
    prompts: list[str],
    *,
    strength: float,
    seed: int = 0,
    steps: int = 8,
    guidance_scale: float = 2.5,
    batch_size: int = 64,
) -> np.ndarray:
    """Real uint8 images noised to ``strength`` of the sampler's schedule and denoised by the model from there with
    their captions (SDEdit): images whose content is known that look generated. ``strength`` 1: from pure noise."""
    if not 0 < strength <= 1:
        raise ValueError(f"strength must lie in (0, 1], got {strength}")
    if len(prompts) != len(images):
        raise ValueError(f"{len(prompts)} prompts for {len(images)} images")
    scheduler = pipe.scheduler
    scheduler.set_timesteps(steps)
    start = min(steps - 1, round(steps * (1 - strength)))
    t = scheduler.timesteps[start]
    x0 = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    alpha_bar = scheduler.alphas_cumprod[int(t)]
    noised = (alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * noise).to(pipe.unet.device, pipe.unet.dtype)
    states, mask = pipe.encode_prompt(sorted(set(prompts) | {""}))
    index = {p: i for i, p in enumerate(sorted(set(prompts) | {""}))}
    out = []
    for begin in range(0, len(prompts), batch_size):
        batch = prompts[begin : begin + batch_size]
        rows = torch.tensor([index[p] for p in batch])
        empty = torch.full((len(batch),), index[""])
        result = pipe(
            num_inference_steps=steps,
            guidance_scale=guidance_scale,
            latents=noised[begin : begin + len(batch)],
            prompt_embeds=states[rows],
            prompt_attention_mask=mask[rows],
            negative_prompt_embeds=states[empty],
            negative_prompt_attention_mask=mask[empty],
            output_type="np",
            start_step=start,
        )
        assert isinstance(result, ImagePipelineOutput)
        out.append(images_to_uint8(np.asarray(result.images)))
    return np.concatenate(out) if out else np.zeros((0, *images.shape[1:]), dtype=np.uint8)
