"""The negation ablation: fine-tune a t2i model with true "without X" captions, and without.

Both arms start from the model and see the same batches, noise and timesteps (same seed); they
differ only in the captions. Equal steps, paired design; the arms train concurrently, one thread each.
One such pair per whole-chain seed (``fine_tune_pairs``): seed s fine-tunes the t2i model trained
with seed s, with its own batches and its own negated captions, so the pairs replicate the whole chain.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch

from revis.curves import curve_key
from revis.diffusion.pipeline import MiniT2IPipeline
from revis.diffusion.text import TextEncoder
from revis.diffusion.training import DenoiserTraining, Encoded, encode_captions, train_text_to_image
from revis.diffusion.unet import training_scheduler_like
from revis.workers import run_threads


def encode_arms(encoder: TextEncoder, captions: Mapping[Any, list[str]]) -> dict[Any, Encoded]:
    """``encode_captions`` of each arm's captions, running the encoder once on their union (the arms share most)."""
    union = sorted({c for arm in captions.values() for c in arm})
    states, masks, null_states, null_mask = encode_captions(encoder, union)
    row = {c: i for i, c in enumerate(union)}
    out: dict[Any, Encoded] = {}
    for arm, texts in captions.items():
        rows = torch.tensor([row[c] for c in texts], dtype=torch.long)
        out[arm] = (states[rows], masks[rows], null_states, null_mask)
    return out


def fine_tune(
    model: MiniT2IPipeline,
    arm: str,
    split: Any,
    encoder: TextEncoder,
    encoded: Encoded,
    config: DenoiserTraining,
) -> tuple[MiniT2IPipeline, dict[str, Any]]:
    """A copy of ``model`` whose UNet trained on ``split`` (the EMA weights), and its loss curve."""
    unet = copy.deepcopy(model.unet).requires_grad_(True)
    ema, curve = train_text_to_image(
        unet,
        training_scheduler_like(model.scheduler),  # the forward process the t2i model was trained on
        encoder,
        split.images,
        split.captions,
        config,
        curve=curve_key(f"ablation_{arm}", config.seed),
        encoded=encoded,
    )
    pipe = MiniT2IPipeline(
        ema,
        copy.deepcopy(model.scheduler),
        model.text_encoder,
        model.tokenizer,
        text_encoder_name=model.config["text_encoder_name"],
        max_length=model.config["max_length"],
        seed=model.config.get("seed"),
    )
    return pipe, curve


def fine_tune_pairs(
    pairs: Mapping[int, tuple[MiniT2IPipeline, Mapping[str, Any], DenoiserTraining]], device: torch.device
) -> dict[int, list[tuple[MiniT2IPipeline, dict[str, Any]]]]:
    """``{seed: (model, {arm: split}, config)}`` -> ``{seed: [(fine-tuned model, curve) per arm, in arm order]}``.

    Every seed's captions are encoded in one run of the frozen text encoder (the seeds' models share it, and
    their control captions are the same): 3 x 14 s -> 25 s. A seed's arms train concurrently, one thread each,
    and the seeds one after another: six trainings on six threads of 2 cores took 126 s, against 3 x 36 s a pair
    at a time.
    """
    first = next(iter(pairs.values()))[0]
    encoder = TextEncoder.from_components(
        first.text_encoder,
        first.tokenizer,
        name=first.config["text_encoder_name"],
        max_length=first.config["max_length"],
    )
    encoded = encode_arms(
        encoder, {(seed, arm): split.captions for seed, (_, arms, _) in pairs.items() for arm, split in arms.items()}
    )
    out: dict[int, list[tuple[MiniT2IPipeline, dict[str, Any]]]] = {}
    for seed, (model, arms, config) in pairs.items():
        if model.config["text_encoder_name"] != first.config["text_encoder_name"]:
            raise ValueError(f"seed {seed}'s t2i model reads another text encoder than seed {next(iter(pairs))}'s")
        jobs = [(model, arm, split, encoder, encoded[seed, arm], config) for arm, split in arms.items()]
        out[seed] = run_threads(fine_tune, jobs, device)
    return out
