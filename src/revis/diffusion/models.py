"""Trained text-to-image models of the caption world: one ``MiniT2IPipeline`` per whole-chain seed.

Every model starts from a UNet initialized with its seed (in seed order, before any training, so the
threads never draw from torch's global RNG) and trains on captions encoded once; the models train
concurrently, one thread each (``run_threads``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel

from revis.curves import curve_key
from revis.diffusion.pipeline import MiniT2IPipeline
from revis.diffusion.text import TextEncoder
from revis.diffusion.training import DenoiserTraining, Encoded, train_text_to_image
from revis.diffusion.unet import Sampler, build_unet, on_device, sampling_scheduler, training_scheduler
from revis.workers import run_threads


@dataclass(frozen=True)
class ModelSpec:
    """What a trained pipeline is made of beyond its UNet: the text encoder, the noise schedule, the sampler."""

    text_encoder: str
    max_length: int
    num_train_timesteps: int
    beta_schedule: str
    sampler: Sampler


def seeded_unets(
    seeds: Sequence[int], image_size: int, hidden_size: int, unet: Mapping[str, Any], device: torch.device
) -> list[UNet2DConditionModel]:
    """One UNet per seed, initialized in seed order from ``torch.manual_seed(seed)``."""
    unets = []
    for seed in seeds:
        torch.manual_seed(seed)
        unets.append(on_device(build_unet(image_size, hidden_size, **unet), device))
    return unets


def train_seeded_models(
    unets: Sequence[UNet2DConditionModel],
    seeds: Sequence[int],
    encoder: TextEncoder,
    split: Any,
    encoded: Encoded,
    spec: ModelSpec,
    training: DenoiserTraining,
    device: torch.device,
    checkpoints: Mapping[int, tuple[int, Callable[[int, UNet2DConditionModel], None]]] | None = None,
) -> list[tuple[MiniT2IPipeline, dict[str, Any]]]:
    """``(pipeline, history)`` per seed: ``training`` with that seed on the split's images and captions.

    ``checkpoints``: ``{seed: (every, on_checkpoint)}``, the EMA weights of that seed's training handed to
    ``on_checkpoint(step, unet)`` every ``every`` steps (e.g. a ``FidelityCurve``)."""
    checkpoints = checkpoints or {}

    def fit(unet: UNet2DConditionModel, seed: int) -> tuple[MiniT2IPipeline, dict[str, Any]]:
        every, on_checkpoint = checkpoints.get(seed, (0, None))
        scheduler = training_scheduler(spec.num_train_timesteps, spec.beta_schedule)  # one per thread
        config = dataclasses.replace(training, seed=seed)
        ema, history = train_text_to_image(
            unet,
            scheduler,
            encoder,
            split.images,
            split.captions,
            config,
            curve=curve_key("t2i", seed),
            encoded=encoded,
            every=every,
            on_checkpoint=on_checkpoint,
        )
        pipe = MiniT2IPipeline(
            ema,
            sampling_scheduler(scheduler, spec.sampler),
            encoder.model,
            encoder.tokenizer,
            text_encoder_name=spec.text_encoder,
            max_length=spec.max_length,
            seed=seed,
        )
        return pipe, history

    return run_threads(fit, list(zip(unets, seeds, strict=True)), device)
