"""LiT-style contrastive pretraining: image tower from scratch against a locked text backbone.

Loss: symmetric InfoNCE over a batch of (frame, description) pairs with the encoder's learned
temperature, ``(CE(logits, T) + CE(logitsᵀ, Tᵀ)) / 2``. Frames whose descriptions describe the
same content (``keys`` equal: same background and event, any wording) are all positives of
each other: the target rows ``T`` spread their mass uniformly over them. Without that, two
frames of one segment in a batch would be pushed apart. With partial texts (a text naming only
some attributes, ``revis.vl.pairs``) positives are what fits: text t is a positive of every
frame that shows all it names (``slot_targets``; then the two directions have their own rows).

The text backbone is frozen, so each description's pooled sentence embedding is computed once
(``pooled_texts``); only the text head, the image tower and the temperature train.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from revis.curves import curve_key, log_curve
from revis.vl.checkpoint import EncoderBundle, build_encoder, encoder_checkpoint
from revis.vl.config import EncoderConfig
from revis.vl.encoder import LOGIT_SCALE_MAX, DualEncoder, as_in_a_job, pooled_texts
from revis.vl.pairs import FrameTextPairs
from revis.workers import map_jobs


@dataclass
class PretrainConfig:
    steps: int = 600
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup: int = 30
    seed: int = 0


def soft_targets(keys: torch.Tensor) -> torch.Tensor:
    """Row-normalised positives: ``T[i, j] = [key_i == key_j] / #{j : key_j == key_i}``."""
    same = (keys[:, None] == keys[None, :]).float()
    return same / same.sum(1, keepdim=True)


def slot_targets(frame_slots: torch.Tensor, text_slots: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(image -> text, text -> image) soft targets: every text that fits a frame is its positive.

    ``frame_slots`` (B, 6) what each frame shows, ``text_slots`` (B, 6) what each text requires
    (``revis.vl.pairs.UNNAMED`` where it names nothing). A pair's own text always fits its frame.
    """
    from revis.vl.pairs import UNNAMED

    fit = ((text_slots[None, :, :] == UNNAMED) | (text_slots[None, :, :] == frame_slots[:, None, :])).all(-1).float()
    return fit / fit.sum(1, keepdim=True), fit.T / fit.T.sum(1, keepdim=True)


def info_nce(logits: torch.Tensor, targets: torch.Tensor, text_targets: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE with soft targets (images x texts logits); ``text_targets`` default ``targets.T``."""
    text_targets = targets.T if text_targets is None else text_targets
    image_to_text = -(targets * logits.log_softmax(dim=1)).sum(1).mean()
    text_to_image = -(text_targets * logits.T.log_softmax(dim=1)).sum(1).mean()
    return (image_to_text + text_to_image) / 2


def _lr_factor(step: int, steps: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return 0.5 * (1 + np.cos(np.pi * progress))


def pretrain(
    encoder: DualEncoder,
    frames: np.ndarray,
    text_index: np.ndarray,
    pooled: torch.Tensor,
    keys: np.ndarray,
    config: PretrainConfig,
    curve: str | None = "pretrain/seed-",
    slots: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, list[float]]:
    """Train the image tower, the text head and the temperature; returns the loss / temperature history.

    ``frames`` uint8 (N, H, W, 3); ``text_index`` (N,) row of ``pooled`` describing each frame;
    ``keys`` (N,) content id of each frame (equal keys are positives of each other).
    ``curve``: name under which the loss is logged step by step (``revis.curves``); None: not logged.
    ``slots``: (frame slots (N, 6), text slots (N, 6)) of the pairs: positives are the texts that fit a
    frame (``slot_targets``) instead of equal keys.
    """
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    for parameter in encoder.parameters():
        parameter.requires_grad_(False)
    trainable = [
        *encoder.image.parameters(),
        *encoder.text.head_parameters(),
        encoder.logit_scale,
    ]
    for parameter in trainable:
        parameter.requires_grad_(True)
    decay = [p for p in trainable if p.ndim >= 2]
    no_decay = [p for p in trainable if p.ndim < 2]
    optimiser = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr,
        fused=True,  # one kernel for all tensors: ~8x faster than the per-tensor loop on a CPU
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: _lr_factor(s, config.steps, config.warmup))
    pixels = torch.from_numpy(np.ascontiguousarray(frames))
    keys_t = torch.as_tensor(np.asarray(keys), device=encoder.device)
    index_t = torch.as_tensor(np.asarray(text_index), device=encoder.device)
    slots_t = None if slots is None else tuple(torch.as_tensor(s, device=encoder.device) for s in slots)
    batch = min(config.batch_size, len(frames))
    history: dict[str, list[float]] = {"loss": [], "temperature": []}
    order = rng.permutation(len(frames))
    cursor = 0
    encoder.train()
    for step in tqdm(range(config.steps), desc=f"contrastive pretraining (seed {config.seed})", leave=False):
        if cursor + batch > len(order):
            order, cursor = rng.permutation(len(frames)), 0
        picked = order[cursor : cursor + batch]
        cursor += batch
        on_device = torch.as_tensor(picked, device=encoder.device)
        image_z = encoder.image_features(pixels[torch.as_tensor(picked)])
        text_z = nn.functional.normalize(encoder.text.project(pooled[index_t[on_device]]), dim=-1)
        if slots_t is None:
            loss = info_nce(encoder.logits(image_z, text_z), soft_targets(keys_t[on_device]))
        else:
            to_text, to_image = slot_targets(slots_t[0][on_device], slots_t[1][on_device])
            loss = info_nce(encoder.logits(image_z, text_z), to_text, to_image)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        scheduler.step()
        with torch.no_grad():
            encoder.logit_scale.clamp_(max=LOGIT_SCALE_MAX)
        value = float(loss.detach())
        history["loss"].append(value)
        history["temperature"].append(encoder.temperature)
        if curve:
            log_curve({"loss": value, "temperature": encoder.temperature}, step, curve)
    encoder.eval()
    for parameter in encoder.parameters():
        parameter.requires_grad_(False)
    return history


def pretrain_encoder(
    config: EncoderConfig | dict,
    pairs: FrameTextPairs,
    pretrain_config: PretrainConfig,
    device: str = "cpu",
    pooled: torch.Tensor | None = None,
) -> tuple[dict, dict[str, list[float]]]:
    """One seed: a fresh encoder (initialised from the seed), pretrained on ``pairs``; (checkpoint, history).

    ``pooled``: the frozen text backbone's ``pooled_texts`` of the distinct texts of ``pairs`` (the same for
    every seed: computed once by ``pretrain_seeds``); None: computed here.
    """
    torch.manual_seed(pretrain_config.seed)
    encoder = build_encoder(config).to(device)
    unique = list(dict.fromkeys(pairs.texts))
    row = {text: i for i, text in enumerate(unique)}
    key_id = {key: i for i, key in enumerate(dict.fromkeys(pairs.keys))}
    pooled = pooled_texts(encoder, unique) if pooled is None else pooled.to(device)
    history = pretrain(
        encoder,
        pairs.frames,
        np.array([row[t] for t in pairs.texts]),
        pooled,
        np.array([key_id[k] for k in pairs.keys]),
        pretrain_config,
        curve=None,  # the caller logs the history (also when this ran in a worker process)
        slots=None if pairs.frame_slots is None or pairs.text_slots is None else (pairs.frame_slots, pairs.text_slots),
    )
    meta = {"seed": pretrain_config.seed, "steps": pretrain_config.steps, "pairs": len(pairs), "texts": len(unique)}
    return encoder_checkpoint(encoder.cpu(), config, meta=meta), history


@dataclass(frozen=True)
class PretrainJob:
    """One seed's pretraining (a ``map_jobs`` job): a fresh encoder of ``config`` pretrained on ``pairs``."""

    config: EncoderConfig
    pairs: FrameTextPairs
    pretrain: PretrainConfig  # its ``seed`` initialises the encoder
    device: str
    pooled: torch.Tensor | None = None  # the frozen backbone's pooled distinct texts, shared by the seeds


def pretrain_job(job: PretrainJob) -> tuple[dict, dict[str, list[float]]]:
    """:func:`pretrain_encoder` of one job: (checkpoint, history)."""
    return pretrain_encoder(job.config, job.pairs, job.pretrain, job.device, job.pooled)


def shared_pooled_texts(config: EncoderConfig, texts: Sequence[str], device: str = "cpu") -> torch.Tensor:
    """``pooled_texts`` of ``texts`` by the frozen text backbone every seed loads (so computed once, on one torch
    thread as in a job: the same numbers as each job computing its own). The seed-dependent head is not used."""
    with as_in_a_job():
        return pooled_texts(build_encoder(config).to(device), list(texts)).cpu()  # a job moves it to its device


def pretrain_seeds(
    config: EncoderConfig, pairs: FrameTextPairs, seeds: Sequence[int], base: PretrainConfig, device: str, workers: int
) -> tuple[EncoderBundle, dict[str, dict[str, list[float]]]]:
    """One encoder per seed (``base`` with that seed), on ``workers`` processes: the ``vl.encoders`` bundle
    (``{"config", "seeds", "checkpoints": {"seed<s>": checkpoint}}``) and the histories, also logged as curves."""
    pooled = shared_pooled_texts(config, list(dict.fromkeys(pairs.texts)), device) if len(seeds) > 1 else None
    jobs = [PretrainJob(config, pairs, dataclasses.replace(base, seed=seed), device, pooled) for seed in seeds]
    results = map_jobs(pretrain_job, [(job,) for job in jobs], workers, desc="vl pretraining per seed")
    histories = {f"seed{seed}": history for seed, (_, history) in zip(seeds, results)}
    for seed, (_, history) in zip(seeds, results):  # curves reach MLflow from this process, also from workers
        for step, (loss, temperature) in enumerate(zip(history["loss"], history["temperature"])):
            log_curve({"loss": loss, "temperature": temperature}, step, curve_key("encoder", str(seed)))
    checkpoints = {f"seed{seed}": checkpoint for seed, (checkpoint, _) in zip(seeds, results)}
    return EncoderBundle(config=config.model_dump(), seeds=list(seeds), checkpoints=checkpoints), histories
