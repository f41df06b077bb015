"""``orthoemb-evaluate``: pose-changing prompts under six arms, judged for leakage, identity and fidelity; pictures."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch

from revis.diffusion.attention import CrossAttentionStore
from revis.diffusion.customize import ARMS, SwapSettings, customize, encode_arm
from revis.diffusion.orthogonal import orthogonality_residual, project_visual_rows
from revis.diffusion.training import to_model_range
from revis.orthoemb.model import load_subject_encoder, pipeline_text_encoder
from revis.orthoemb.pictures import arms_grid, attention_figure, loss_curves, tradeoff_scatter
from revis.orthoemb.subjects import evaluation_cases, score_cases
from revis.pipelines.orthoemb.params import EvaluateParams, FixParams, RuntimeParams, TrainParams
from revis.reporting.summary import mean_std, proportion
from revis.runtime import apply_runtime
from revis.world.judge import judge_images, load_judge

MEASURES = ("identity", "colour_shape", "leakage", "compliance", "fidelity")


def _swap(fixes: FixParams) -> SwapSettings:
    return SwapSettings(fixes.swap_layers, fixes.swap_start_step, fixes.swap_end_step)


def _noise(pipe: Any, n: int, seed: int) -> torch.Tensor:
    c, size = pipe.unet.config.in_channels, pipe.unet.config.sample_size
    return torch.randn((n, c, size, size), generator=torch.Generator().manual_seed(10_007 + seed))


def run_arms(
    encoders: dict[str, Any],
    t2i_model: Any,
    judge: dict[str, Any],
    train: TrainParams,
    fixes: FixParams,
    evaluate: EvaluateParams,
    runtime: RuntimeParams,
) -> dict[str, Any]:
    """Per seed: evaluation references drawn with the seed, every arm from the same initial noise; judged per image."""
    device = apply_runtime(runtime.device, runtime.threads)
    pipe = t2i_model.to(device)
    encoder = pipeline_text_encoder(pipe)
    reader = load_judge(judge)
    size = pipe.unet.config.sample_size
    per_seed: dict[str, Any] = {}
    grid: dict[str, Any] = {}
    residual = {"full": 0.0, "mean_direction": 0.0, "visual": 0.0}
    for seed in train.seeds:
        mapper = load_subject_encoder(encoders, seed, encoder.hidden_size).to(device)
        references, cases = evaluation_cases(evaluate.n_cases, 104_729 + seed, size, tuple(train.radius))
        with torch.no_grad():
            visual = mapper(to_model_range(references).to(device))
        noise = _noise(pipe, len(cases), seed)
        prompts = [c.prompt() for c in cases]
        text_prompts = [c.prompt(c.subject.phrase) for c in cases]
        scores: dict[str, Any] = {}
        outputs: dict[str, np.ndarray] = {}
        for name in evaluate.arms:
            arm = ARMS[name]
            images = customize(
                pipe,
                encoder,
                prompts if arm.visual else text_prompts,
                visual,
                noise,
                arm,
                basis_tokens=fixes.basis_tokens,
                swap=_swap(fixes),
                steps=evaluate.steps,
                guidance_scale=evaluate.guidance_scale,
                batch_size=evaluate.batch_size,
            )
            outputs[name] = images
            judged = score_cases(judge_images(reader, images), cases)
            scores[name] = {k: v.tolist() for k, v in judged.items()}
            if seed == train.seeds[0]:
                grid[name] = images[: evaluate.grid_cases]
        main, _, _ = encode_arm(encoder, prompts, visual, swap=False)
        basis = main.basis(fixes.basis_tokens)
        residual["visual"] = max(residual["visual"], orthogonality_residual(main.states, main.visual, basis))
        full = project_visual_rows(main.states, main.visual, basis, "full")
        residual["full"] = max(residual["full"], orthogonality_residual(full, main.visual, basis))
        mean = project_visual_rows(main.states, main.visual, basis, "mean")
        residual["mean_direction"] = max(residual["mean_direction"], _mean_residual(mean, main.visual, basis))
        judged_refs = score_cases(judge_images(reader, references), cases)
        per_seed[str(seed)] = {
            "scores": scores,
            "change_from_visual": change_from_visual(outputs),
            "references": {k: v.tolist() for k, v in judged_refs.items()},
        }
        if seed == train.seeds[0]:
            grid["references"] = references[: evaluate.grid_cases]
            grid["prompts"] = prompts[: evaluate.grid_cases]
    attention = _attention(pipe, encoder, encoders, train, fixes, evaluate)
    return {"per_seed": per_seed, "grid": grid, "residual": residual, "attention": attention}


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


def _mean_residual(states: torch.Tensor, visual: torch.Tensor, basis: torch.Tensor) -> float:
    worst = 0.0
    for b in range(states.shape[0]):
        if visual[b].any() and basis[b].any():
            m = states[b, basis[b]].double().mean(0)
            v = states[b, visual[b]].double()
            cos = (v @ m) / (v.norm(dim=-1).clamp(min=1e-12) * m.norm())
            worst = max(worst, float(cos.abs().max()))
    return worst


def _attention(
    pipe: Any, encoder: Any, encoders: dict[str, Any], train: TrainParams, fixes: FixParams, evaluate: EvaluateParams
) -> dict[str, Any]:
    """Cross-attention maps of the visual tokens (summed over the k tokens) and of the prompt's corner word, without
    and with the full projection, for a few cases of the first seed."""
    seed = train.seeds[0]
    size = pipe.unet.config.sample_size
    mapper = load_subject_encoder(encoders, seed, encoder.hidden_size).to(pipe.unet.device)
    references, cases = evaluation_cases(evaluate.attention_cases, 104_729 + seed, size, tuple(train.radius))
    with torch.no_grad():
        visual = mapper(to_model_range(references).to(pipe.unet.device))
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
            _noise(pipe, len(cases), seed),
            ARMS[name],
            basis_tokens=fixes.basis_tokens,
            steps=evaluate.steps,
            guidance_scale=evaluate.guidance_scale,
            store=store,
        )
        grid = store.maps(size)  # (B, L, size, size)
        vis = (grid * main.visual[:, :, None, None].to(grid)).sum(1)
        maps[name] = {"images": images, "visual_tokens": vis.cpu().numpy()}
    return maps


def report(
    results: dict[str, Any],
    history: dict[str, Any],
    train: TrainParams,
    evaluate: EvaluateParams,
) -> tuple[dict[str, Any], plt.Figure, plt.Figure, plt.Figure, plt.Figure]:
    """metrics.json (per arm: rates over seeds and pooled with intervals); the arms grid, trade-off, attention maps, losses."""
    seeds = [int(s) for s in results["per_seed"]]
    arms: dict[str, Any] = {}
    pooled: dict[str, Any] = {}
    for name in evaluate.arms:
        arms[name], pooled[name] = {}, {}
        for measure in (*MEASURES, "tradeoff"):
            values, hits, trials = [], 0, 0
            for s in seeds:
                sc = {k: np.asarray(v) for k, v in results["per_seed"][str(s)]["scores"][name].items()}
                if measure == "tradeoff":
                    values.append(float(sc["identity"].mean() - sc["leakage"].mean()))
                    continue
                rows = sc["has_other"] if measure == "fidelity" else np.ones(len(sc["identity"]), dtype=bool)
                values.append(float(sc[measure][rows].mean()))
                hits, trials = hits + int(sc[measure][rows].sum()), trials + int(rows.sum())
            arms[name][measure] = mean_std(values, seeds)
            if measure != "tradeoff":
                pooled[name][measure] = proportion(hits, trials)
    refs = {"identity": [0, 0], "leakage": [0, 0]}
    for s in seeds:
        r = results["per_seed"][str(s)]["references"]
        for k in refs:
            refs[k][0] += int(np.sum(r[k]))
            refs[k][1] += len(r[k])
    changes = [results["per_seed"][str(s)].get("change_from_visual", {}) for s in seeds]
    change = {
        name: mean_std([c[name] for c in changes], seeds) for name in changes[0] if all(name in c for c in changes)
    }
    losses = history["loss"]
    final = [float(np.mean(losses[str(s)][-20:])) for s in seeds]
    n = evaluate.n_cases
    metrics = {
        "scale": (
            f"caption world 16 px subjects (24 identities = colour x shape x texture), the t2i model of this project "
            f"frozen; {len(seeds)} whole-chain seeds (subject-encoder training data, initialisation and batches; "
            f"evaluation references and noise), {train.steps} encoder steps of batch {train.batch_size} on "
            f"{train.n_references} references, k = {train.tokens} visual tokens; {n} pose-changing prompts per arm "
            f"and seed ({n * len(seeds)} images per arm), {evaluate.steps} sampler steps, guidance "
            f"{evaluate.guidance_scale}; judged by the world's judge"
        ),
        "arms": arms,
        "pooled": pooled,
        "references": {k: proportion(*v) for k, v in refs.items()},
        "orthogonality": {k: float(v) for k, v in results["residual"].items()},
        "change_from_visual": change,
        "training": {"final_loss": mean_std(final, seeds)},
    }
    grid = arms_grid(results["grid"], evaluate.arms)
    scatter = tradeoff_scatter(arms, evaluate.arms)
    attention = attention_figure(results["attention"])
    return metrics, grid, scatter, attention, loss_curves(losses)
