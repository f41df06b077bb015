"""``orthoemb-evaluate``: pose-changing prompts under six arms, judged for leakage, identity and fidelity; pictures."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt

from revis.config.runtime import ComputeParams
from revis.diffusion.customize import SwapSettings
from revis.orthoemb.evaluation import Evaluation, evaluate_arms
from revis.orthoemb.metrics import OrthoembMetrics, orthoemb_metrics, scale_note
from revis.orthoemb.model import pipeline_text_encoder
from revis.orthoemb.pictures import arms_grid, attention_figure, loss_curves, tradeoff_scatter
from revis.pipelines.orthoemb.params import EvaluateParams, FixParams, TrainParams
from revis.runtime import apply_runtime
from revis.world.judge import load_judge


def run_arms(
    encoders: dict[str, Any],
    t2i_model: Any,
    judge: dict[str, Any],
    seeds: list[int],
    train: TrainParams,
    fixes: FixParams,
    evaluate: EvaluateParams,
    compute: ComputeParams,
) -> dict[str, Any]:
    """Per seed: evaluation references drawn with the seed, every arm from the same initial noise; judged per image."""
    device = apply_runtime(compute.device, compute.threads)
    pipe = t2i_model.to(device)
    evaluation = Evaluation(
        arms=tuple(evaluate.arms),
        n_cases=evaluate.n_cases,
        steps=evaluate.steps,
        guidance_scale=evaluate.guidance_scale,
        batch_size=evaluate.batch_size,
        grid_cases=evaluate.grid_cases,
        attention_cases=evaluate.attention_cases,
        basis_tokens=fixes.basis_tokens,
        swap=SwapSettings(fixes.swap_layers, fixes.swap_start_step, fixes.swap_end_step),
        radius=(train.radius[0], train.radius[1]),
    )
    return evaluate_arms(pipe, pipeline_text_encoder(pipe), load_judge(judge), encoders, seeds, evaluation)


def report_metrics(
    results: dict[str, Any],
    history: dict[str, Any],
    train: TrainParams,
    evaluate: EvaluateParams,
) -> tuple[OrthoembMetrics, plt.Figure, plt.Figure, plt.Figure, plt.Figure]:
    """metrics.json (per arm: rates over seeds and pooled with intervals); the arms grid, trade-off, attention maps, losses."""
    scale = scale_note(
        seeds=len(results["per_seed"]),
        steps=train.steps,
        batch_size=train.batch_size,
        n_references=train.n_references,
        tokens=train.tokens,
        n_cases=evaluate.n_cases,
        sampler_steps=evaluate.steps,
        guidance=evaluate.guidance_scale,
    )
    losses = history["loss"]
    metrics = orthoemb_metrics(results, losses, evaluate.arms, scale)
    grid = arms_grid(results["grid"], list(evaluate.arms))
    scatter = tradeoff_scatter(metrics.arms, list(evaluate.arms))
    attention = attention_figure(results["attention"])
    return metrics, grid, scatter, attention, loss_curves(losses)
