"""``whitebear-train``: the negation ablation -- fine-tune the t2i model with true "without X" captions, and without.

One pair per whole-chain seed s: both arms start from the t2i model trained with seed s and see the
same batches, noise and timesteps (fine-tuning seed ``ablation.seed + s``); they differ only in the
captions: in the negation arm a share of them carries a true clause ("... without a blue square", the
object absent from the scene, drawn with the same seed). Equal steps, paired design.
"""

from __future__ import annotations

from typing import Any

from revis.config.runtime import ComputeParams
from revis.diffusion.training import DenoiserTraining
from revis.negation.ablation import fine_tune_pairs
from revis.negation.attack import models_by_seed
from revis.pipelines.whitebear.params import AblationParams
from revis.runtime import apply_runtime
from revis.world.captions import with_negations


def train_ablation(
    model: Any,
    replicates: dict[str, Any],
    captions: dict[str, Any],
    seeds: list[int],
    ablation: AblationParams,
    compute: ComputeParams,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """``({seed: negation arm}, {seed: control arm}, {seed: their loss curves and caption statistics})``."""
    device = apply_runtime(compute.device, compute.threads)
    train = captions["train"]
    pairs = {}
    history: dict[str, dict[str, Any]] = {}
    for seed, base in models_by_seed(model, replicates, seeds).items():
        chain = ablation.seed + seed  # seed 0 with ablation.seed 0: the one pair this stage trained before
        negated = with_negations(train, ablation.negation_fraction, seed=chain)
        config = DenoiserTraining(
            steps=ablation.steps,
            batch_size=ablation.batch_size,
            lr=ablation.lr,
            warmup=ablation.warmup,
            ema_decay=ablation.ema_decay,
            seed=chain,
        )
        pairs[seed] = (base.to(device), {"negation": negated, "control": train}, config)
        history[str(seed)] = {
            "negated_captions": sum(r.negated is not None for r in negated.records),
            "captions": len(negated),
            "steps": ablation.steps,
            "fine_tuning_seed": chain,
        }
    negation, control = {}, {}
    for seed, ((negation_model, negation_curve), (control_model, control_curve)) in fine_tune_pairs(
        pairs, device
    ).items():
        negation[str(seed)], control[str(seed)] = negation_model, control_model
        history[str(seed)].update(negation=negation_curve, control=control_curve)
    return negation, control, history
