"""``whitebear-train``: the negation ablation -- fine-tune the t2i model with true "without X" captions, and without.

Both arms start from the t2i model and see the same batches, noise and timesteps (same seed);
they differ only in the captions: in the negation arm a share of them carries a true clause
("... without a blue square", the object absent from the scene). Equal steps, paired design.
"""

from __future__ import annotations

import copy
from typing import Any

from revis.diffusion.pipeline import MiniT2IPipeline
from revis.diffusion.text import TextEncoder
from revis.diffusion.training import DenoiserTraining, train_text_to_image
from revis.diffusion.unet import training_scheduler_like
from revis.pipelines.whitebear.params import AblationParams, RuntimeParams
from revis.runtime import apply_runtime
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
    scheduler = training_scheduler_like(model.scheduler)  # the forward process the t2i model was trained on
    config = DenoiserTraining(
        steps=ablation.steps,
        batch_size=ablation.batch_size,
        lr=ablation.lr,
        warmup=ablation.warmup,
        ema_decay=ablation.ema_decay,
        seed=ablation.seed,
    )
    arms: dict[str, MiniT2IPipeline] = {}
    history: dict[str, Any] = {
        "negated_captions": sum(r.negated is not None for r in negated.records),
        "captions": len(negated),
        "steps": ablation.steps,
    }
    for arm, split in (("negation", negated), ("control", train)):
        unet = copy.deepcopy(model.unet).requires_grad_(True)
        ema, curve = train_text_to_image(
            unet, scheduler, encoder, split.images, split.captions, config, curve=f"ablation.{arm}"
        )
        arms[arm] = MiniT2IPipeline(
            ema,
            copy.deepcopy(model.scheduler),
            model.text_encoder,
            model.tokenizer,
            text_encoder_name=model.config.text_encoder_name,
            max_length=model.config.max_length,
            seed=model.config.get("seed"),
        )
        history[arm] = curve
    return arms["negation"], arms["control"], history


def _names(model: MiniT2IPipeline) -> dict[str, Any]:
    return {"name": model.config.text_encoder_name, "max_length": model.config.max_length}
