"""orthoemb's evaluation: per whole-chain seed, references drawn with the seed, every arm from the same initial
noise, judged per image; the projection's orthogonality residuals; cross-attention maps of the visual tokens.

The result (``orthoemb.results``, in memory within the stage) is
``{"per_seed": {seed: {"scores", "change_from_visual", "references"}}, "grid", "residual", "attention"}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from revis.diffusion.attention import CrossAttentionStore
from revis.diffusion.customize import ARMS, SwapSettings, customize, encode_arm
from revis.diffusion.orthogonal import orthogonality_residual, project_visual_rows
from revis.diffusion.text import TextEncoder
from revis.diffusion.training import to_model_range
from revis.orthoemb.model import load_subject_encoder
from revis.orthoemb.subjects import Case, evaluation_cases, score_cases
from revis.world.judge import judge_images

REFERENCE_SEED = 104_729  # evaluation references of seed s: drawn with REFERENCE_SEED + s
NOISE_SEED = 10_007  # initial noise of seed s: drawn with NOISE_SEED + s


@dataclass(frozen=True)
class Evaluation:
    """How the arms are generated and judged (``orthoemb.evaluate`` and ``orthoemb.fixes``)."""

    arms: tuple[str, ...]
    n_cases: int
    steps: int
    guidance_scale: float
    batch_size: int
    grid_cases: int
    attention_cases: int
    basis_tokens: str
    swap: SwapSettings
    radius: tuple[float, float]


def initial_noise(pipe: Any, n: int, seed: int) -> torch.Tensor:
    """The initial noise of seed ``seed``'s ``n`` cases (shared by every arm)."""
    c, size = pipe.unet.config.in_channels, pipe.unet.config.sample_size
    return torch.randn((n, c, size, size), generator=torch.Generator().manual_seed(NOISE_SEED + seed))


def change_from_visual(outputs: dict[str, np.ndarray]) -> dict[str, float]:
    """Mean absolute difference (grey levels, 0-255) of each visual-token arm's images from the no-fix arm's, same noise:
    whether a fix changes the outputs at all (a fix that changes nothing is trivially non-inferior)."""
    if "visual" not in outputs:
        return {}
    base = outputs["visual"].astype(np.float64)
    return {
        name: float(np.abs(images.astype(np.float64) - base).mean())
        for name, images in outputs.items()
        if name not in ("visual", "text")
    }


def mean_residual(states: torch.Tensor, visual: torch.Tensor, basis: torch.Tensor) -> float:
    """The largest |cosine| between a visual row and the mean of the text rows (the ``mean`` projection's target)."""
    worst = 0.0
    for b in range(states.shape[0]):
        if visual[b].any() and basis[b].any():
            m = states[b, basis[b]].double().mean(0)
            v = states[b, visual[b]].double()
            cos = (v @ m) / (v.norm(dim=-1).clamp(min=1e-12) * m.norm())
            worst = max(worst, float(cos.abs().max()))
    return worst


def _cases(
    pipe: Any, encoder: TextEncoder, encoders: dict[str, Any], seed: int, n: int, radius: tuple[float, float]
) -> tuple[np.ndarray, list[Case], torch.Tensor]:
    """References and cases of seed ``seed``, and their visual tokens from subject encoder ``seed``."""
    mapper = load_subject_encoder(encoders, seed, encoder.hidden_size).to(pipe.unet.device)
    references, cases = evaluation_cases(n, REFERENCE_SEED + seed, pipe.unet.config.sample_size, radius)
    with torch.no_grad():
        visual = mapper(to_model_range(references).to(pipe.unet.device))
    return references, cases, visual


def _residuals(encoder: TextEncoder, prompts: list[str], visual: torch.Tensor, basis_tokens: str) -> dict[str, float]:
    main, _, _ = encode_arm(encoder, prompts, visual, swap=False)
    basis = main.basis(basis_tokens)
    full = project_visual_rows(main.states, main.visual, basis, "full")
    mean = project_visual_rows(main.states, main.visual, basis, "mean")
    return {
        "visual": orthogonality_residual(main.states, main.visual, basis),
        "full": orthogonality_residual(full, main.visual, basis),
        "mean_direction": mean_residual(mean, main.visual, basis),
    }


def evaluate_seed(
    pipe: Any, encoder: TextEncoder, judge: Any, encoders: dict[str, Any], seed: int, evaluation: Evaluation
) -> tuple[dict[str, Any], dict[str, Any], dict[str, float]]:
    """(the seed's record, its grid pieces, its orthogonality residuals): every arm on seed ``seed``'s cases."""
    references, cases, visual = _cases(pipe, encoder, encoders, seed, evaluation.n_cases, evaluation.radius)
    noise = initial_noise(pipe, len(cases), seed)
    prompts = [c.prompt() for c in cases]
    text_prompts = [c.prompt(c.subject.phrase) for c in cases]
    scores: dict[str, Any] = {}
    outputs: dict[str, np.ndarray] = {}
    keep = evaluation.grid_cases
    grid: dict[str, Any] = {}
    for name in evaluation.arms:
        arm = ARMS[name]
        images = customize(
            pipe,
            encoder,
            prompts if arm.visual else text_prompts,
            visual,
            noise,
            arm,
            basis_tokens=evaluation.basis_tokens,
            swap=evaluation.swap,
            steps=evaluation.steps,
            guidance_scale=evaluation.guidance_scale,
            batch_size=evaluation.batch_size,
        )
        outputs[name] = images
        scores[name] = {k: v.tolist() for k, v in score_cases(judge_images(judge, images), cases).items()}
        grid[name] = images[:keep]
    residual = _residuals(encoder, prompts, visual, evaluation.basis_tokens)
    judged_refs = score_cases(judge_images(judge, references), cases)
    record = {
        "scores": scores,
        "change_from_visual": change_from_visual(outputs),
        "references": {k: v.tolist() for k, v in judged_refs.items()},
    }
    grid.update(references=references[:keep], prompts=prompts[:keep])
    return record, grid, residual


def attention_maps(
    pipe: Any, encoder: TextEncoder, encoders: dict[str, Any], seed: int, evaluation: Evaluation
) -> dict[str, Any]:
    """Cross-attention maps of the visual tokens (summed over the k tokens) and of the prompt's corner word, without
    and with the full projection, for a few cases of seed ``seed``."""
    size = pipe.unet.config.sample_size
    references, cases, visual = _cases(pipe, encoder, encoders, seed, evaluation.attention_cases, evaluation.radius)
    prompts = [c.prompt() for c in cases]
    main, _, _ = encode_arm(encoder, prompts, visual, swap=False)
    maps: dict[str, Any] = {"references": references, "prompts": prompts}
    for name in ("visual", "full"):
        store = CrossAttentionStore()
        images = customize(
            pipe,
            encoder,
            prompts,
            visual,
            initial_noise(pipe, len(cases), seed),
            ARMS[name],
            basis_tokens=evaluation.basis_tokens,
            steps=evaluation.steps,
            guidance_scale=evaluation.guidance_scale,
            store=store,
        )
        grid = store.maps(size)  # (B, L, size, size)
        vis = (grid * main.visual[:, :, None, None].to(grid)).sum(1)
        maps[name] = {"images": images, "visual_tokens": vis.cpu().numpy()}
    return maps


def evaluate_arms(
    pipe: Any,
    encoder: TextEncoder,
    judge: Any,
    encoders: dict[str, Any],
    seeds: Sequence[int],
    evaluation: Evaluation,
) -> dict[str, Any]:
    """Every seed's record, the first seed's grid, the largest residuals over seeds, the first seed's attention."""
    per_seed: dict[str, Any] = {}
    grid: dict[str, Any] = {}
    residual = {"full": 0.0, "mean_direction": 0.0, "visual": 0.0}
    for seed in seeds:
        record, pieces, measured = evaluate_seed(pipe, encoder, judge, encoders, seed, evaluation)
        per_seed[str(seed)] = record
        residual = {key: max(value, measured[key]) for key, value in residual.items()}
        if seed == seeds[0]:
            grid = pieces
    attention = attention_maps(pipe, encoder, encoders, seeds[0], evaluation)
    return {"per_seed": per_seed, "grid": grid, "residual": residual, "attention": attention}
