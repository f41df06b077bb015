"""``whitebear-train``: the negation ablation -- fine-tune the t2i model with true "without X" captions, and without.

Both arms start from the t2i model and see the same batches, noise and timesteps (same seed);
they differ only in the captions: in the negation arm a share of them carries a true clause
("... without a blue square", the object absent from the scene). Equal steps, paired design.
"""

from __future__ import annotations

from typing import Any

from revis.config.runtime import ComputeParams
from revis.diffusion.pipeline import MiniT2IPipeline
from revis.diffusion.training import DenoiserTraining
from revis.negation.ablation import fine_tune_arms
from revis.pipelines.whitebear.params import AblationParams
from revis.runtime import apply_runtime
from revis.world.captions import with_negations


def train_ablation(
    model: MiniT2IPipeline, captions: dict[str, Any], ablation: AblationParams, compute: ComputeParams
) -> tuple[MiniT2IPipeline, MiniT2IPipeline, dict[str, Any]]:
    """(negation arm, control arm, their loss curves and caption statistics)."""
    device = apply_runtime(compute.device, compute.threads)
    model = model.to(device)
    train = captions["train"]
    negated = with_negations(train, ablation.negation_fraction, seed=ablation.seed)
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
    # the two arms train concurrently, one thread each
    (negation, history["negation"]), (control, history["control"]) = fine_tune_arms(
        model, {"negation": negated, "control": train}, config, device
    )
    return negation, control, history
