"""``t2i-train``: the text-conditioned UNet on the caption world's training split (one model per whole-chain seed)."""

from __future__ import annotations

from typing import Any

from revis.config.runtime import ComputeParams
from revis.diffusion.fidelity_curve import FidelityCurve
from revis.diffusion.models import ModelSpec, seeded_unets, train_seeded_models
from revis.diffusion.pipeline import MiniT2IPipeline
from revis.diffusion.text import TextEncoder
from revis.diffusion.training import DenoiserTraining, encode_captions
from revis.pipelines.t2i.params import EvaluateParams, TrainParams
from revis.runtime import apply_runtime
from revis.world.judge import load_judge


def train_models(
    captions: dict[str, Any],
    judge_state: dict[str, Any],
    seeds: list[int],
    train: TrainParams,
    evaluate: EvaluateParams,
    compute: ComputeParams,
) -> tuple[MiniT2IPipeline, dict[str, Any], dict[str, MiniT2IPipeline], dict[str, Any], list[dict[str, Any]]]:
    """``t2i.model`` (trained from the first seed), its history, and ``t2i.replicates``: the same training from each
    further seed (initialization, batch order, noise, dropout), ``{seed: model}``, with their loss curves; and the
    first model's learning curves of the gate fidelities (``train.curve``; empty when ``every`` is 0).

    The models train concurrently, one thread each (``run_threads``), on captions encoded once; the curve's
    checkpoints are kept during training and measured together after it.
    """
    device = apply_runtime(compute.device, compute.threads)
    split = captions["train"]
    encoder = TextEncoder(train.text_encoder, train.max_length, device)
    encoded = encode_captions(encoder, split.captions)
    unets = seeded_unets(seeds, split.images.shape[1], encoder.hidden_size, train.unet.model_dump(), device)
    spec = ModelSpec(
        train.text_encoder, train.max_length, train.num_train_timesteps, train.beta_schedule, train.sampler
    )
    config = DenoiserTraining(**train.model_dump(include=set(DenoiserTraining.__dataclass_fields__)))
    sampling = evaluate.model_dump(include={"seed", "steps", "guidance_scale", "batch_size"})
    probe = captions["test"].records[: train.curve.captions]
    curve = FidelityCurve(load_judge(judge_state), probe, encoder, spec, sampling, defer=True)
    checkpoints = {seeds[0]: (train.curve.every, curve)} if train.curve.every else {}
    trained = train_seeded_models(unets, seeds, encoder, split, encoded, spec, config, device, checkpoints)
    (model, history), replicates = trained[0], trained[1:]
    if train.curve.every:
        curve(train.steps, model.unet)
        curve.flush(device)  # every checkpoint's fidelity, one thread each
    history.update(parameters=int(sum(p.numel() for p in model.unet.parameters())), images=len(split), seed=seeds[0])
    models = {str(seed): pipe for seed, (pipe, _) in zip(seeds[1:], replicates, strict=True)}
    histories = {
        str(seed): {"loss": h["loss"], "seed": seed} for seed, (_, h) in zip(seeds[1:], replicates, strict=True)
    }
    return model, history, models, histories, curve.rows
