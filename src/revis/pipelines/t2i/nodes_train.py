"""``t2i-train``: the text-conditioned UNet on the caption world's training split (one model per whole-chain seed)."""

from __future__ import annotations

from typing import Any

import torch

from revis.curves import curve_key
from revis.diffusion.pipeline import MiniT2IPipeline
from revis.diffusion.text import TextEncoder
from revis.diffusion.training import DenoiserTraining, encode_captions, train_text_to_image
from revis.diffusion.unet import build_unet, sampling_scheduler, training_scheduler
from revis.pipelines.t2i.params import RuntimeParams, TrainParams
from revis.runtime import apply_runtime
from revis.workers import run_threads


def train_models(
    captions: dict[str, Any], train: TrainParams, runtime: RuntimeParams
) -> tuple[MiniT2IPipeline, dict[str, Any], dict[str, MiniT2IPipeline], dict[str, Any]]:
    """``t2i.model`` (trained from ``seed``), its history, and ``t2i.replicates``: the same training from each of
    ``replicate_seeds`` (initialisation, batch order, noise, dropout), ``{seed: model}``, with their loss curves.

    The models train concurrently, one thread each (``run_threads``), on captions encoded once.
    """
    device = apply_runtime(runtime.device, runtime.threads)
    split = captions["train"]
    encoder = TextEncoder(train.text_encoder, train.max_length, device)
    encoded = encode_captions(encoder, split.captions)
    seeds = [train.seed, *train.replicate_seeds]
    unets = []
    for seed in seeds:  # initialised here, in order: the threads must not draw from torch's global RNG
        torch.manual_seed(seed)
        unets.append(build_unet(split.images.shape[1], encoder.hidden_size, **train.unet.model_dump()).to(device))

    def fit(unet: Any, seed: int) -> tuple[MiniT2IPipeline, dict[str, Any]]:
        scheduler = training_scheduler(train.num_train_timesteps, train.beta_schedule)  # one per thread
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
        curve = curve_key("t2i", seed)
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
        return pipe, history

    trained = run_threads(fit, list(zip(unets, seeds)), device)
    (model, history), replicates = trained[0], trained[1:]
    history.update(parameters=int(sum(p.numel() for p in model.unet.parameters())), images=len(split), seed=train.seed)
    models = {str(seed): pipe for seed, (pipe, _) in zip(train.replicate_seeds, replicates)}
    histories = {
        str(seed): {"loss": h["loss"], "seed": seed} for seed, (_, h) in zip(train.replicate_seeds, replicates)
    }
    return model, history, models, histories
