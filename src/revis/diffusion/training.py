"""Training the text-conditioned UNet: DDPM noise, epsilon prediction, caption dropout for guidance.

Loss: ||eps - eps_theta(x_t, t, c)||^2 weighted by min-SNR-gamma (Hang et al. 2023: the weight
min(SNR(t), gamma) / SNR(t) stops the nearly-noiseless steps from dominating, which speeds up
convergence several-fold). A share ``cond_dropout`` of captions is replaced by the empty
caption so that one network learns both the conditional and the unconditional score
(classifier-free guidance, Ho & Salimans 2022). Weights are averaged (EMA) for sampling.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
from diffusers.schedulers.scheduling_ddpm import DDPMScheduler
from tqdm.auto import tqdm

from revis.curves import log_curve
from revis.diffusion.text import TextEncoder

# encode_captions' result: token states and masks of every caption, of the empty caption
Encoded = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


@dataclass
class DenoiserTraining:
    steps: int = 600
    batch_size: int = 64
    lr: float = 2e-3
    warmup: int = 50
    cond_dropout: float = 0.1
    min_snr_gamma: float | None = 5.0
    ema_decay: float = 0.995
    grad_clip: float = 1.0
    seed: int = 0


def to_model_range(images: Any) -> torch.Tensor:
    """uint8 (N, H, W, 3) array -> float (N, 3, H, W) in [-1, 1]."""
    x = torch.as_tensor(images).permute(0, 3, 1, 2).float()
    return x / 127.5 - 1.0


def from_model_range(x: torch.Tensor) -> Any:
    """float (N, 3, H, W) in [-1, 1] -> uint8 (N, H, W, 3) numpy array."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def pad_context(states: torch.Tensor, mask: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-pad token states (..., L, D) and their mask (..., L) to ``length`` tokens."""
    extra = length - states.shape[-2]
    if extra < 0:
        raise ValueError(f"cannot pad {states.shape[-2]} tokens to {length}")
    if extra == 0:
        return states, mask
    return F.pad(states, (0, 0, 0, extra)), F.pad(mask, (0, extra), value=False)


def snr_weights(scheduler: DDPMScheduler, timesteps: torch.Tensor, gamma: float | None) -> torch.Tensor:
    """min(SNR, gamma) / SNR per timestep (1 everywhere without gamma)."""
    if gamma is None:
        return torch.ones(len(timesteps))
    alpha_bar = scheduler.alphas_cumprod[timesteps]
    snr = alpha_bar / (1 - alpha_bar)
    return torch.minimum(snr, torch.full_like(snr, gamma)) / snr


def train_denoiser(
    unet: UNet2DConditionModel,
    scheduler: DDPMScheduler,
    images: torch.Tensor,
    states: torch.Tensor,
    masks: torch.Tensor,
    null_states: torch.Tensor,
    null_mask: torch.Tensor,
    config: DenoiserTraining,
    curve: str = "t2i/seed-",
    every: int = 0,
    on_checkpoint: Callable[[int, UNet2DConditionModel], None] | None = None,
) -> tuple[UNet2DConditionModel, dict[str, list[float]]]:
    """Train ``unet`` in place on (images in [-1, 1], caption token states); returns the EMA copy and the loss curve.

    ``null_states`` / ``null_mask`` (L0, D) / (L0,): the empty caption's states (the unconditional input).
    ``on_checkpoint(step, ema)`` is called every ``every`` steps (e.g. to measure fidelity along training).
    """
    generator = torch.Generator().manual_seed(
        config.seed
    )  # its only randomness (no global RNG: it may run in a thread)
    device = unet.device
    images, states, masks = images.cpu(), states.cpu(), masks.cpu()
    null_states, null_mask = null_states.cpu(), null_mask.cpu()
    length = states.shape[1]
    null_states, null_mask = pad_context(null_states, null_mask, length)
    ema = copy.deepcopy(unet).requires_grad_(False)
    opt = torch.optim.AdamW(unet.parameters(), lr=config.lr, weight_decay=0.0)
    warmup = max(1, config.warmup)

    def lr_at(step: int) -> float:  # linear warm-up, then cosine decay to 10 %
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, config.steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    history: dict[str, list[float]] = {"loss": []}
    n = len(images)
    order = torch.randperm(n, generator=generator)
    cursor = 0
    unet.train()
    for step in tqdm(range(config.steps), desc="t2i unet", leave=False):
        if cursor + config.batch_size > n:
            order, cursor = torch.randperm(n, generator=generator), 0
        idx = order[cursor : cursor + config.batch_size]
        cursor += config.batch_size
        x0 = images[idx]
        context, context_mask = states[idx].clone(), masks[idx].clone()
        drop = torch.rand(len(idx), generator=generator) < config.cond_dropout
        context[drop], context_mask[drop] = null_states, null_mask
        noise = torch.randn(x0.shape, generator=generator)
        t = torch.randint(0, scheduler.config["num_train_timesteps"], (len(idx),), generator=generator)
        xt = scheduler.add_noise(x0, noise, cast(torch.IntTensor, t))  # diffusers types timesteps as IntTensor
        weights = snr_weights(scheduler, t, config.min_snr_gamma)
        xt, noise, t, weights = xt.to(device), noise.to(device), t.to(device), weights.to(device)
        pred = unet(
            xt, t, encoder_hidden_states=context.to(device), encoder_attention_mask=context_mask.to(device)
        ).sample
        per_sample = F.mse_loss(pred, noise, reduction="none").mean(dim=(1, 2, 3))
        loss = (per_sample * weights).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), config.grad_clip)
        opt.step()
        schedule.step()
        decay = min(config.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, p in zip(ema.parameters(), unet.parameters()):
                e.lerp_(p, 1 - decay)
        history["loss"].append(float(loss.detach()))
        if step % 10 == 0 or step == config.steps - 1:
            log_curve({"loss": sum(history["loss"][-10:]) / len(history["loss"][-10:])}, step, curve)
        if on_checkpoint is not None and every and (step + 1) % every == 0 and step + 1 < config.steps:
            on_checkpoint(step + 1, ema.eval())
            unet.train()
    unet.eval()
    return ema.eval(), history


def encode_unique(encoder: TextEncoder, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Token states and masks of every caption, running the text encoder once per distinct caption."""
    distinct = sorted(set(captions))
    states, masks = encoder.encode(distinct)
    index = {c: i for i, c in enumerate(distinct)}
    rows = torch.tensor([index[c] for c in captions], dtype=torch.long)
    return states[rows.to(states.device)], masks[rows.to(masks.device)]


@torch.no_grad()
def encode_captions(encoder: TextEncoder, captions: list[str]) -> Encoded:
    """(states, masks) of every caption and of the empty caption (the unconditional input)."""
    states, masks = encode_unique(encoder, captions)
    null_states, null_mask = encoder.encode([""])
    return states, masks, null_states, null_mask


def train_text_to_image(
    unet: UNet2DConditionModel,
    scheduler: DDPMScheduler,
    encoder: TextEncoder,
    images: Any,
    captions: list[str],
    config: DenoiserTraining,
    curve: str = "t2i/seed-",
    encoded: Encoded | None = None,
    every: int = 0,
    on_checkpoint: Callable[[int, UNet2DConditionModel], None] | None = None,
) -> tuple[UNet2DConditionModel, dict[str, Any]]:
    """Encode the captions with the frozen encoder, train the UNet on (uint8 images, captions); EMA copy + history.

    ``encoded``: ``encode_captions(encoder, captions)`` computed once for several trainings on the same captions.
    ``every`` / ``on_checkpoint``: see ``train_denoiser`` (called with the EMA weights along training).
    """
    states, masks, null_states, null_mask = encode_captions(encoder, captions) if encoded is None else encoded
    ema, history = train_denoiser(
        unet,
        scheduler,
        to_model_range(images),
        states,
        masks,
        null_states[0],
        null_mask[0],
        config,
        curve=curve,
        every=every,
        on_checkpoint=on_checkpoint,
    )
    return ema, {**history, "distinct_captions": len(set(captions)), "tokens": int(states.shape[1])}
