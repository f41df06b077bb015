"""``t2i-train``: the text-conditioned UNet on the caption world's training split (one model per whole-chain seed)."""

from __future__ import annotations

import functools
from typing import Any

import torch

from revis.diffusion.pipeline import MiniT2IPipeline
from revis.diffusion.text import TextEncoder
from revis.diffusion.training import DenoiserTraining, encode_captions, train_text_to_image
from revis.diffusion.unet import build_unet, sampling_scheduler, training_scheduler
from revis.pipelines.t2i.params import RuntimeParams, TrainParams
from revis.runtime import apply_runtime


@functools.lru_cache(maxsize=1)
def _encoded(names: tuple[str, ...], text_encoder: str, max_length: int, device: str) -> tuple[torch.Tensor, ...]:
    # the three models of the stage (t2i.model + replicates) train on the same captions: encode them once
    return encode_captions(TextEncoder(text_encoder, max_length, torch.device(device)), list(names))


def _train_model(
    captions: dict[str, Any], train: TrainParams, seed: int, device: Any, curve: str
) -> tuple[MiniT2IPipeline, dict[str, Any]]:
    split = captions["train"]
    encoder = TextEncoder(train.text_encoder, train.max_length, device)
    encoded = _encoded(tuple(split.captions), train.text_encoder, train.max_length, str(device))
    torch.manual_seed(seed)
    unet = build_unet(split.images.shape[1], encoder.hidden_size, **train.unet.model_dump()).to(device)
    scheduler = training_scheduler(train.num_train_timesteps, train.beta_schedule)
    config = DenoiserTraining(
        steps=train.steps,
        batch_size=train.batch_size,
        lr=train.lr,
        warmup=train.warmup,
        cond_dropout=train.cond_dropout,
        min_snr_gamma=train.min_snr_gamma,
        ema_decay=train.ema_decay,
        seed=seed,
    )
    ema, history = train_text_to_image(
        unet, scheduler, encoder, split.images, split.captions, config, curve=curve, encoded=encoded
    )
    pipe = MiniT2IPipeline(
        ema,
        sampling_scheduler(scheduler, train.sampler),
        encoder.model,
        encoder.tokenizer,
        text_encoder_name=train.text_encoder,
        max_length=train.max_length,
        seed=seed,
    )
    history["parameters"] = int(sum(p.numel() for p in ema.parameters()))
    history["images"] = len(split)
    history["seed"] = seed
    return pipe, history


def train_t2i(
    captions: dict[str, Any], train: TrainParams, runtime: RuntimeParams
) -> tuple[MiniT2IPipeline, dict[str, Any]]:
    """A ``MiniT2IPipeline`` (EMA weights, the chosen sampler, the frozen text encoder) and its training history."""
    device = apply_runtime(runtime.device, runtime.threads)
    return _train_model(captions, train, train.seed, device, "t2i")


def train_replicates(
    captions: dict[str, Any], train: TrainParams, runtime: RuntimeParams
) -> tuple[dict[str, MiniT2IPipeline], dict[str, Any]]:
    """The same training from each of ``replicate_seeds`` (initialisation, batch order, noise, dropout): ``{seed: model}``."""
    device = apply_runtime(runtime.device, runtime.threads)
    models, histories = {}, {}
    for seed in train.replicate_seeds:
        models[str(seed)], history = _train_model(captions, train, seed, device, f"t2i.seed{seed}")
        histories[str(seed)] = {"loss": history["loss"], "seed": seed}
    return models, histories
