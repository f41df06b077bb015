"""``whitebear-evaluate``: text representations, the attack and its defenses, cross-attention, the negation ablation."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from revis.config.runtime import ComputeParams
from revis.diffusion.text import TextEncoder
from revis.negation.attack import (
    Sampling,
    distinct,
    draw,
    grid_images,
    judged_counts,
    models_by_seed,
    pair_key,
    pair_prompts,
)
from revis.negation.attention import prompt_attention
from revis.negation.metrics import WhitebearMetrics, judge_metrics, whitebear_metrics
from revis.negation.pictures import attack_bars, attention_figure, judge_note, samples_per_kind, similarity_heatmap
from revis.negation.prompts import KINDS, Prompt
from revis.negation.representations import similarity_table
from revis.pipelines.whitebear.params import AttackParams, PromptParams, RepresentationParams
from revis.runtime import apply_runtime
from revis.workers import run_threads
from revis.world.captions import OBJECT_NAMES
from revis.world.judge import judge_report, load_judge


def _sampling(attack: AttackParams) -> Sampling:
    return Sampling(attack.images_per_prompt, attack.steps, attack.guidance_scale, attack.batch_size)


def analyze_representations(
    model: Any, representations: RepresentationParams, compute: ComputeParams
) -> dict[str, Any]:
    """Pooled and per-token cosine similarities of "S without X" / "S with X" / "S" with the frozen text encoder."""
    apply_runtime(compute.device, compute.threads)
    encoder = TextEncoder.from_components(model.text_encoder, model.tokenizer, model.config.text_encoder_name)
    table = similarity_table(
        encoder,
        representations.scenes,
        representations.objects or OBJECT_NAMES,
        representations.negations,
        representations.positive,
        representations.neutral,
    )
    return {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in table.items()}


def run_attack(
    model: Any,
    replicates: dict[str, Any],
    judge_state: dict[str, Any],
    seeds: list[int],
    prompts: PromptParams,
    attack: AttackParams,
    compute: ComputeParams,
) -> dict[str, Any]:
    """Images of every prompt kind x pair x whole-chain seed, judged; a few kept for the grid.

    Seed s: the t2i model trained with seed s, sampled with seed s (the same noise for every prompt).
    The seeds' models sample concurrently, one thread each (``run_threads``).
    """
    device = apply_runtime(compute.device, compute.threads)
    judge = load_judge(judge_state)
    models = models_by_seed(model, replicates, seeds)
    alternatives = {pair_key(p): p.alternative for p in prompts.pairs}
    by_pair = pair_prompts(prompts.pairs, prompts.templates)
    pending = distinct([prompt for kinds in by_pair.values() for prompt in kinds.values()])
    drawn = {}
    for images in run_threads(draw, [(models[s], pending, [s], _sampling(attack)) for s in seeds], device):
        drawn.update(images)
    return {
        "counts": judged_counts(judge, drawn, by_pair, seeds, alternatives),
        "grid": grid_images(drawn, by_pair, seeds[0], attack.grid_images),
        "prompts": {p: {k: v.__dict__ for k, v in ks.items()} for p, ks in by_pair.items()},
    }


def run_attention(
    model: Any,
    judge_state: dict[str, Any],
    seeds: list[int],
    prompts: PromptParams,
    attack: AttackParams,
    compute: ComputeParams,
) -> dict[str, Any]:
    """Cross-attention of each attack prompt's tokens: share per token group, and its density on the drawn X."""
    apply_runtime(compute.device, compute.threads)
    judge = load_judge(judge_state)
    results: dict[str, Any] = {"pairs": {}, "panels": []}
    for pair, kinds in pair_prompts(prompts.pairs, prompts.templates).items():
        measured = prompt_attention(
            model,
            judge,
            kinds["attack"],
            seed=seeds[0],
            images=attack.attention_images,
            steps=attack.steps,
            guidance_scale=attack.guidance_scale,
        )
        results["pairs"][pair] = measured.record()
        results["panels"].append(measured.panel)
    return results


def run_ablation(
    negation_models: dict[str, Any],
    control_models: dict[str, Any],
    judge_state: dict[str, Any],
    seeds: list[int],
    prompts: PromptParams,
    attack: AttackParams,
    compute: ComputeParams,
) -> dict[str, Any]:
    """The ablation's prompts on both fine-tuned arms of every seed: seed s's pair sampled with seed s (the same
    noise for both arms); one thread per arm."""
    device = apply_runtime(compute.device, compute.threads)
    judge = load_judge(judge_state)
    alternatives = {pair_key(p): p.alternative for p in prompts.pairs}
    chosen: dict[str, dict[str, Prompt]] = {
        pair: {kind: kinds[kind] for kind in attack.ablation_kinds}
        for pair, kinds in pair_prompts(prompts.pairs, prompts.templates).items()
    }
    pending = distinct([prompt for kinds in chosen.values() for prompt in kinds.values()])
    arms = {"negation": negation_models, "control": control_models}
    jobs = [(arms[arm], pending, seeds, _sampling(attack)) for arm in arms]
    drawn = run_threads(_draw_own_models, jobs, device)
    return {arm: judged_counts(judge, images, chosen, seeds, alternatives) for arm, images in zip(arms, drawn)}


def _ablation_steps(history: dict[str, Any]) -> Any:
    """The fine-tuning steps per arm (equal for every seed's pair), for the scale note."""
    steps = {h.get("steps") for h in history.values()}
    return steps.pop() if len(steps) == 1 else "?"


def _draw_own_models(models: dict[str, Any], pending: list, seeds: list[int], sampling: Sampling) -> dict:
    """``draw`` of each seed's own fine-tuned model, sampled with that seed (one arm, seeds in turn)."""
    return {key: images for seed in seeds for key, images in draw(models[str(seed)], pending, [seed], sampling).items()}


def report_metrics(
    representations: dict[str, Any],
    attack_results: dict[str, Any],
    attention: dict[str, Any],
    ablation_counts: dict[str, Any],
    ablation_history: dict[str, Any],
    captions: dict[str, Any],
    judge_state: dict[str, Any],
    seeds: list[int],
    prompts: PromptParams,
    attack: AttackParams,
) -> tuple[WhitebearMetrics, plt.Figure, plt.Figure, plt.Figure, plt.Figure]:
    """metrics.json and the pictures: sample grid per prompt kind, attack bars, similarity heat map, attention maps."""
    accuracy = judge_report(load_judge(judge_state), captions["test"])
    objects = sorted(
        {p.object for p in prompts.pairs} | {p.alternative for p in prompts.pairs if p.alternative in OBJECT_NAMES}
    )
    judge = judge_metrics(accuracy, objects)
    metrics = whitebear_metrics(
        representations=representations,
        counts=attack_results["counts"],
        attention_pairs=attention["pairs"],
        ablation_counts=ablation_counts,
        judge=judge,
        seeds=seeds,
        n_pairs=len(prompts.pairs),
        images_per_prompt=attack.images_per_prompt,
        ablation_steps=_ablation_steps(ablation_history),
    )
    kinds = [k for k in KINDS if k in attack_results["counts"]]
    grid = samples_per_kind(attack_results["grid"], attack_results["prompts"], kinds)
    bars = attack_bars(metrics.attack["rates"], metrics.attack["per_pair"], metrics.ablation, judge_note(judge))
    return metrics, grid, bars, similarity_heatmap(representations), attention_figure(attention["panels"])
