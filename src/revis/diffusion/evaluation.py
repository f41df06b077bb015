"""Judged prompt fidelity of text-to-image models, per model seed, against shuffled captions (the capability gates).

A model reads its prompt when the judge finds what the caption states more often than what a
*shuffled* caption states, on the same images: the baseline wins when the model ignores its text.
Per model seed and aspect the one-sided Fisher exact test (model > shuffled) gives a p-value; the
gates of ``claims/t2i.yaml`` ask that it be below alpha on every seed (``every_seed``). The
replication unit is the trained model: images of one model are never pooled across models.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from revis.diffusion.generate import generate, redenoise
from revis.reporting.summary import mean_std, proportion
from revis.workers import run_threads
from revis.world.captions import CaptionRecord
from revis.world.fidelity import caption_fidelity, shuffled
from revis.world.judge import blob_precision, judge_images

Counts = dict[str, tuple[int, int]]  # aspect -> (hits, trials)
GATE_ASPECTS = ("placement", "shapes", "count")  # what whitebear and orthoemb need beyond colours


def judged_fidelity(
    model: Any,
    judge: Any,
    records: list[CaptionRecord],
    *,
    seed: int,
    steps: int,
    guidance_scale: float,
    batch_size: int,
) -> dict[str, Counts]:
    """{"model": counts, "shuffled_captions": counts}: one image per caption (sampling ``seed``), judged once."""
    images = generate(
        model,
        [r.caption for r in records],
        seed=seed,
        steps=steps,
        guidance_scale=guidance_scale,
        batch_size=batch_size,
    )
    judged = judge_images(judge, images)
    return {
        "model": caption_fidelity(judged, records),
        "shuffled_captions": caption_fidelity(judged, shuffled(records, seed)),
    }


def judged_fidelity_per_seed(
    models: Mapping[int, Any],
    judge: Any,
    records: list[CaptionRecord],
    *,
    seed: int,
    steps: int,
    guidance_scale: float,
    batch_size: int,
) -> dict[int, dict[str, Counts]]:
    """``judged_fidelity`` of every model (``{training seed: model}``), all sampled with sampling seed ``seed``.

    On CPU the models sample concurrently, one thread each (``run_threads``: a 16 px UNet's ops are too small for two
    intra-op threads); their images are the same bytes as on two threads one after another (README, t2i time budget).
    """
    sample = functools.partial(
        judged_fidelity, seed=seed, steps=steps, guidance_scale=guidance_scale, batch_size=batch_size
    )
    device = next(iter(models.values())).unet.device if models else "cpu"
    measured = run_threads(sample, [(m, judge, records) for m in models.values()], device)
    return dict(zip(models, measured, strict=True))


def judge_on_redenoised(
    model: Any,
    judge: Any,
    split: Any,
    n: int,
    *,
    strength: float,
    threshold: float,
    seed: int,
    steps: int,
    guidance_scale: float,
    batch_size: int,
) -> dict[str, Any]:
    """The judge's blob precision (with and without its reject option) on the first ``n`` real scenes of a caption
    split (``CaptionSplit`` with label maps) noised to ``strength`` and
    re-denoised by ``model`` with their captions: images that look generated and whose content is known
    (``blob_precision`` at confidence ``threshold``)."""
    images, label_maps, records = split.images[:n], split.label_maps[:n], split.records[:n]
    redone = redenoise(
        model,
        images,
        [r.caption for r in records],
        strength=strength,
        seed=seed,
        steps=steps,
        guidance_scale=guidance_scale,
        batch_size=batch_size,
    )
    report = blob_precision(judge_images(judge, redone, masks=True), label_maps, threshold)
    return {**report, "strength": strength, "n_images": len(images)}


def p_above_shuffled(model: tuple[int, int], shuffled_counts: tuple[int, int]) -> float:
    """One-sided Fisher exact p-value of "the model's hit rate exceeds the shuffled captions'" (1.0 without trials)."""
    (a, n), (b, m) = model, shuffled_counts
    if n == 0 or m == 0:
        return 1.0
    return float(stats.fisher_exact([[a, n - a], [b, m - b]], alternative="greater").pvalue)


def rate(counts: tuple[int, int]) -> float:
    hits, trials = counts
    return hits / trials if trials else 0.0


def per_seed_fidelity(by_seed: Mapping[int, dict[str, Counts]]) -> dict[str, dict[str, Any]]:
    """Per aspect, summaries over model seeds (``mean_std`` with the seeds): the model's rate, the shuffled
    captions' rate, their difference (``excess``) and the one-sided p-value (``p_above_shuffled``)."""
    seeds = sorted(by_seed)
    aspects = [a for a in by_seed[seeds[0]]["model"] if any(by_seed[s]["model"][a][1] for s in seeds)]
    out: dict[str, dict[str, Any]] = {}
    for aspect in aspects:
        model = [by_seed[s]["model"][aspect] for s in seeds]
        base = [by_seed[s]["shuffled_captions"][aspect] for s in seeds]
        out[aspect] = {
            "model": mean_std([rate(c) for c in model], seeds),
            "shuffled_captions": mean_std([rate(c) for c in base], seeds),
            "excess": mean_std([rate(c) - rate(b) for c, b in zip(model, base)], seeds),
            "p_above_shuffled": mean_std([p_above_shuffled(c, b) for c, b in zip(model, base)], seeds),
            "trials": [int(c[1]) for c in model],
        }
    return out


@dataclass(frozen=True)
class T2IMetrics:
    """``reports/t2i/metrics.json``."""

    scale: str
    judge: dict[str, dict[str, Any]]
    fidelity: dict[str, dict[str, dict[str, Any]]]
    fidelity_per_seed: dict[str, dict[str, Any]]
    training: dict[str, float | int]


def fidelity_by_source(measured: Mapping[str, Counts]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per aspect the model's trials count: ``{aspect: {source: proportion}}`` (sources: model, shuffled, real)."""
    return {
        aspect: {source: proportion(*counts[aspect]) for source, counts in measured.items()}
        for aspect in measured["model"]
        if measured["model"][aspect][1] > 0
    }


def t2i_metrics(
    by_seed: Mapping[int, dict[str, Counts]],
    main_seed: int,
    real_images: Counts,
    judge: Mapping[str, dict[str, Any]],
    history: Mapping[str, Any],
    *,
    image_size: int,
    n_captions: int,
    steps: int,
    guidance_scale: float,
) -> T2IMetrics:
    """Fidelity per aspect of ``t2i.model`` (seed ``main_seed``) vs shuffled captions vs real images, fidelity per
    model seed, the judge's held-out accuracy (without per-object rates) and the training summary."""
    losses = history["loss"]
    scale = (
        f"caption world {image_size} px, {history['images']} training scenes ({history['distinct_captions']} distinct "
        f"captions); UNet2DConditionModel {history['parameters'] / 1e6:.2f} M parameters on frozen MiniLM token states, "
        f"{len(losses)} steps trained here on CPU ({len(by_seed)} training seeds); {n_captions} held-out captions, one "
        f"image each, {steps} sampler steps, guidance {guidance_scale}"
    )
    return T2IMetrics(
        scale=scale,
        judge={name: {k: v for k, v in report.items() if k != "per_object"} for name, report in judge.items()},
        fidelity=fidelity_by_source({**by_seed[main_seed], "real_images": real_images}),
        fidelity_per_seed=per_seed_fidelity(by_seed),
        training={"steps": len(losses), "final_loss": float(np.mean(losses[-50:]))},
    )
