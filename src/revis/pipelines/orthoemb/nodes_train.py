"""``orthoemb-train``: one subject encoder per whole-chain seed, through the frozen t2i UNet and text encoder."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from revis.config.runtime import ComputeParams
from revis.curves import curve_key
from revis.diffusion.subject_encoder import (
    SubjectAlignment,
    SubjectTraining,
    align_subject_encoder,
    train_subject_encoder,
)
from revis.diffusion.unet import training_scheduler_like
from revis.orthoemb.model import new_subject_encoder, pipeline_text_encoder
from revis.orthoemb.subjects import ALL_SUBJECTS, training_references
from revis.pipelines.orthoemb.params import TrainParams
from revis.runtime import apply_runtime


def train_subject_encoders(
    t2i_model: Any, seeds: list[int], train: TrainParams, compute: ComputeParams
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per seed: references drawn with the seed, an encoder initialized and trained with it; the weights and losses."""
    device = apply_runtime(compute.device, compute.threads)
    pipe = t2i_model.to(device)
    encoder = pipeline_text_encoder(pipe)
    scheduler = training_scheduler_like(pipe.scheduler)
    size = pipe.unet.config.sample_size
    states: dict[str, Any] = {}
    history: dict[str, Any] = {"loss": {}, "alignment_accuracy": {}}
    align = SubjectAlignment(train.align.steps, train.align.batch_size, train.align.lr, train.align.temperature)
    for seed in seeds:
        images, prompts, subjects = training_references(
            train.n_references, 7919 + seed, size, (train.radius[0], train.radius[1]), train.pose_in_text
        )
        torch.manual_seed(seed)
        mapper = new_subject_encoder(encoder, size, train.tokens, train.width).to(device)
        labels = torch.tensor([s.index for s in subjects])
        aligned = align_subject_encoder(
            mapper, encoder, images, labels, [s.phrase for s in ALL_SUBJECTS], replace(align, seed=seed)
        )
        history["alignment_accuracy"][str(seed)] = aligned["accuracy"][-10:]
        config = SubjectTraining(
            steps=train.steps,
            batch_size=train.batch_size,
            lr=train.lr,
            warmup=train.warmup,
            min_snr_gamma=train.min_snr_gamma,
            seed=seed,
        )
        losses = train_subject_encoder(
            mapper, pipe.unet, scheduler, encoder, images, prompts, config, curve_key("subject_encoder", seed)
        )
        states[str(seed)] = {k: v.cpu() for k, v in mapper.state_dict().items()}
        history["loss"][str(seed)] = losses["loss"]
    history["prompts_with_pose"] = float(sum(p != "a S*" for p in prompts) / len(prompts))
    encoders = {"image_size": size, "tokens": train.tokens, "width": train.width, "seeds": states}
    return encoders, history
