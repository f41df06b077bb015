"""``t2i-train``: the text-conditioned UNet on the caption world's training split (one model per whole-chain seed)."""

from __future__ import annotations

from typing import Any

from revis.config.runtime import ComputeParams
from revis.diffusion.models import ModelSpec, seeded_unets, train_seeded_models
from revis.diffusion.pipeline import MiniT2IPipeline
from revis.diffusion.text import TextEncoder
from revis.diffusion.training import DenoiserTraining, encode_captions
from revis.pipelines.t2i.params import TrainParams
from revis.runtime import apply_runtime


def train_models(
    captions: dict[str, Any], seeds: list[int], train: TrainParams, compute: ComputeParams
) -> tuple[MiniT2IPipeline, dict[str, Any], dict[str, MiniT2IPipeline], dict[str, Any]]:
    """``t2i.model`` (trained from the first seed), its history, and ``t2i.replicates``: the same training from each
    further seed (initialization, batch order, noise, dropout), ``{seed: model}``, with their loss curves.

    The models train concurrently, one thread each (``run_threads``), on captions encoded once.
    """
    device = apply_runtime(compute.device, compute.threads)
    split = captions["train"]
    encoder = TextEncoder(train.text_encoder, train.max_length, device)
    encoded = encode_captions(encoder, split.captions)
    unets = seeded_unets(seeds, split.images.shape[1], encoder.hidden_size, train.unet.model_dump(), device)
    spec = ModelSpec(
        train.text_encoder, train.max_length, train.num_train_timesteps, train.beta_schedule, train.sampler
    )
    config = DenoiserTraining(
        steps=train.steps,
        batch_size=train.batch_size,
        lr=train.lr,
        warmup=train.warmup,
        cond_dropout=train.cond_dropout,
        min_snr_gamma=train.min_snr_gamma,
        ema_decay=train.ema_decay,
    )
    trained = train_seeded_models(unets, seeds, encoder, split, encoded, spec, config, device)
    (model, history), replicates = trained[0], trained[1:]
    history.update(parameters=int(sum(p.numel() for p in model.unet.parameters())), images=len(split), seed=seeds[0])
    models = {str(seed): pipe for seed, (pipe, _) in zip(seeds[1:], replicates, strict=True)}
    histories = {
        str(seed): {"loss": h["loss"], "seed": seed} for seed, (_, h) in zip(seeds[1:], replicates, strict=True)
    }
    return model, history, models, histories
