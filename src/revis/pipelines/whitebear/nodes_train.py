"""``whitebear-train``: the negation ablation -- fine-tune the t2i model with true "without X" captions, and without.

Both arms start from the t2i model and see the same batches, noise and timesteps (same seed);
they differ only in the captions: in the negation arm a share of them carries a true clause
("... without a blue square", the object absent from the scene). Equal steps, paired design.
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from revis.curves import curve_key
from revis.diffusion.pipeline import MiniT2IPipeline
from revis.diffusion.text import TextEncoder
from revis.diffusion.training import DenoiserTraining, encode_captions, train_text_to_image
from revis.diffusion.unet import training_scheduler_like
from revis.pipelines.whitebear.params import AblationParams, RuntimeParams
from revis.runtime import apply_runtime
from revis.workers import run_threads
from revis.world.captions import with_negations


def train_ablation(
    model: MiniT2IPipeline, captions: dict[str, Any], ablation: AblationParams, runtime: RuntimeParams
) -> tuple[MiniT2IPipeline, MiniT2IPipeline, dict[str, Any]]:
    """(negation arm, control arm, their loss curves and caption statistics)."""
    device = apply_runtime(runtime.device, runtime.threads)
    model = model.to(device)
    train = captions["train"]
    negated = with_negations(train, ablation.negation_fraction, seed=ablation.seed)
    encoder = TextEncoder.from_components(model.text_encoder, model.tokenizer, **_names(model))
    config = DenoiserTraining(
        steps=ablation.steps,
        batch_size=ablation.batch_size,
        lr=ablation.lr,
        warmup=ablation.warmup,
        ema_decay=ablation.ema_decay,
        seed=ablation.seed,
    )
    history: dict[str, Any] = {
        "negated_captions": sum(r.negated is not None for r in negated.records),
        "captions": len(negated),
        "steps": ablation.steps,
    }
    encoded = _encode_arms(encoder, {"negation": negated.captions, "control": train.captions})

    def fit(arm: str, split: Any) -> tuple[MiniT2IPipeline, dict[str, Any]]:
        unet = copy.deepcopy(model.unet).requires_grad_(True)
        ema, curve = train_text_to_image(
            unet,
            training_scheduler_like(model.scheduler),  # the forward process the t2i model was trained on
            encoder,
            split.images,
            split.captions,
            config,
            curve=curve_key(f"ablation_{arm}", config.seed),
            encoded=encoded[arm],
        )
        pipe = MiniT2IPipeline(
            ema,
            copy.deepcopy(model.scheduler),
            model.text_encoder,
            model.tokenizer,
            text_encoder_name=model.config.text_encoder_name,
            max_length=model.config.max_length,
            seed=model.config.get("seed"),
        )
        return pipe, curve

    # the two arms train concurrently, one thread each
    (negation, history["negation"]), (control, history["control"]) = run_threads(
        fit, [("negation", negated), ("control", train)], device
    )
    return negation, control, history


def _encode_arms(encoder: TextEncoder, captions: dict[str, list[str]]) -> dict[str, tuple[torch.Tensor, ...]]:
    """``encode_captions`` of each arm's captions, running the encoder once on their union (the arms share most)."""
    union = sorted({c for arm in captions.values() for c in arm})
    states, masks, null_states, null_mask = encode_captions(encoder, union)
    row = {c: i for i, c in enumerate(union)}
    out = {}
    for arm, texts in captions.items():
        rows = torch.tensor([row[c] for c in texts], dtype=torch.long)
        out[arm] = (states[rows], masks[rows], null_states, null_mask)
    return out


def _names(model: MiniT2IPipeline) -> dict[str, Any]:
    return {"name": model.config.text_encoder_name, "max_length": model.config.max_length}
