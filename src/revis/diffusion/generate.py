"""One generation interface for the mini model and Stable Diffusion 1.x: ``generate(pipe, prompts, negative_prompt, seed)``.

Image i of a call depends only on (seed, i, its prompt): the initial noise of all images is drawn
at once from ``seed`` and handed to the pipeline batch by batch, so the batch size never changes
a picture. Returns uint8 (N, H, W, 3), ``images_per_prompt`` consecutive images per prompt.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

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
