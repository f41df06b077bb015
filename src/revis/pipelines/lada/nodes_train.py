"""``lada-train``: every arm x seed with equal optimiser steps; detections on the target test split."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from revis.config.runtime import ComputeParams
from revis.curves import curve_key, log_curve
from revis.detection.mean_teacher import MeanTeacherConfig
from revis.detection.ssda import DetectorSpec, ReleaseSource, Schedule, run_arms
from revis.pipelines.lada.params import DataParams, TrainParams
from revis.world.smoke import SmokeWorldFolder


def data_sources(world: SmokeWorldFolder, control: SmokeWorldFolder, data: DataParams) -> dict[str, ReleaseSource]:
    """``main``: the real release when its paths are given, else the smoke world; ``control``: the control world."""
    bounds = {"max_overrun": data.max_overrun, "max_overrun_fraction": data.max_overrun_fraction}
    control_source = ReleaseSource(
        str(control.labels), str(control.images), str(control.unlabeled), str(control.hidden), **bounds
    )
    if data.release_images is not None and data.release_labels is not None and data.release_unlabeled is not None:
        main = ReleaseSource(data.release_labels, data.release_images, data.release_unlabeled, None, **bounds)
    else:
        main = ReleaseSource(str(world.labels), str(world.images), str(world.unlabeled), str(world.hidden), **bounds)
    return {"main": main, "control": control_source}


def train_arms(
    world: SmokeWorldFolder,
    control: SmokeWorldFolder,
    data: DataParams,
    train: TrainParams,
    seeds: list[int],
    compute: ComputeParams,
) -> dict[str, Any]:
    """Source pretraining, then each arm's adaptation per seed (shared burn-ins forked); EMA weights predict the test split."""
    s, d, t = train.schedule, train.detector, train.teacher
    schedule = Schedule(
        pretrain_steps=s.pretrain_steps,
        steps=s.steps,
        burn_in=s.burn_in,
        batch=s.batch,
        unlabeled_batch=s.unlabeled_batch,
        lr=s.lr,
        adapt_lr=s.adapt_lr,
        warmup=s.warmup,
        weight_decay=s.weight_decay,
        target_share=s.target_share,
        log_every=s.log_every,
        pretrain_per_seed=s.pretrain_per_seed if isinstance(s.pretrain_per_seed, bool) else tuple(s.pretrain_per_seed),
        pretrain_seed=s.pretrain_seed,
        pseudo_score_images=s.pseudo_score_images,
    )
    detector = DetectorSpec(d.model, d.imgsz, tuple(d.coord_layers), d.coord_with_r, compute.device, d.weights)
    teacher = MeanTeacherConfig(
        t.tau, t.lambda_u, t.alpha, t.nms_iou, t.max_pseudo, t.unsup_loss, t.domain_weight, t.domain_layer
    )
    sources = data_sources(world, control, data)
    out = run_arms(train.arms, seeds, sources, schedule, detector, teacher, workers=compute.workers)
    for run in out.runs:
        for point in run.curve:
            values = {k: v for k, v in point.items() if k not in ("step", "phase")}
            log_curve(values, int(point["step"]), curve_key(run.arm, run.seed))
    return replace(out, real_release=data.release_images is not None).to_dict()
