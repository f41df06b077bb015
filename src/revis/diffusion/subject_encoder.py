"""Visual pseudo-tokens (ELITE / BLIP-Diffusion style) for a frozen text-to-image model.

A small image encoder maps a reference image to ``k`` embeddings in the text encoder's *input*
(word-embedding) space. A prompt with a placeholder ("a S* in the top left corner") is turned
into word embeddings with the placeholder's rows replaced by the ``k`` visual embeddings, and the
visual and text tokens go through the text transformer together (``inputs_embeds``), as in the
paper. The encoder is trained with the frozen UNet's denoising loss (min-SNR weighted) on the
reference image itself, the text stating the reference's pose where the caller knows it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from revis.curves import log_curve
from revis.diffusion.text import TextEncoder
from revis.diffusion.training import snr_weights, to_model_range

PLACEHOLDER = "S*"


class SubjectEncoder(nn.Module):
    """Reference image (N, 3, H, W) in [-1, 1] -> (N, k, D) pseudo-token embeddings.

    Convolutions with coordinate channels and a flattened (not pooled) map, so the tokens can
    carry where the subject is, as a CLIP image encoder's patch tokens do: the pose information
    the paper's fixes deal with.
    """

    def __init__(self, image_size: int, tokens: int, dim: int, width: int = 32, anchor: torch.Tensor | None = None):
        super().__init__()
        self.tokens, self.dim = tokens, dim
        self.features = nn.Sequential(
            nn.Conv2d(5, width, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(width, width, 3, stride=2, padding=1),
            nn.SiLU(),
            nn.Conv2d(width, width, 3, stride=2, padding=1),
            nn.SiLU(),
            nn.Flatten(),
        )
        side = math.ceil(math.ceil(image_size / 2) / 2)
        self.head = nn.Sequential(
            nn.Linear(width * side * side, 4 * width), nn.SiLU(), nn.Linear(4 * width, tokens * dim)
        )
        last = self.head[-1]
        assert isinstance(last, nn.Linear)
        nn.init.normal_(last.weight, std=0.02)
        nn.init.zeros_(last.bias)
        # the mean word embedding: outputs start as an "average word"
        self.register_buffer("anchor", anchor.detach().clone() if anchor is not None else torch.zeros(dim))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        n, _, h, w = images.shape
        ys = torch.linspace(-1, 1, h, device=images.device)[:, None].expand(h, w)
        xs = torch.linspace(-1, 1, w, device=images.device)[None, :].expand(h, w)
        grid = torch.stack([ys, xs])[None].expand(n, 2, h, w)
        out = self.head(self.features(torch.cat([images, grid], 1)))
        return self.anchor + out.view(n, self.tokens, self.dim)


@dataclass
class Composed:
    """Text-encoder states of prompts with visual tokens, and which rows are what (all (B, L) bool masks)."""

    states: torch.Tensor  # (B, L, D), padding rows zero
    mask: torch.Tensor  # attention mask (real rows)
    visual: torch.Tensor  # the visual pseudo-token rows
    words: torch.Tensor  # the prompt's word tokens (no start/end tokens, no visual rows, no padding)
    special: torch.Tensor  # the start and end tokens ([CLS]/[SEP], CLIP's <|startoftext|>/<|endoftext|>)

    def basis(self, tokens: str) -> torch.Tensor:
        """The rows that span the text basis: ``words`` or ``words_and_special``."""
        if tokens == "words":
            return self.words
        if tokens == "words_and_special":
            return self.words | self.special
        raise ValueError(f"unknown basis tokens {tokens!r}: words or words_and_special")


def compose(
    encoder: TextEncoder, prompts: list[str], visual: torch.Tensor | None, placeholder: str = PLACEHOLDER
) -> Composed:
    """Run <start> prefix [v_1 .. v_k] suffix <end> through the text transformer (``visual`` (B, k, D), or None: no
    placeholder allowed). A prompt that is only the placeholder gives the visual-only embedding <start> v <end>.

    BERT: [CLS]/[SEP], padded to the longest prompt with masked rows. CLIP: <|startoftext|>/<|endoftext|>,
    padded to ``max_length`` with the pad token and every row real (Stable Diffusion's context); the
    padding rows are neither words nor special tokens, so they never span the projection's basis.
    """
    tok = encoder.tokenizer
    k = 0 if visual is None else visual.shape[1]
    slot = 0  # id of the rows the visual embeddings overwrite (any id; not the end token CLIP pools at)
    rows: list[list[int]] = []
    kinds: list[list[str]] = []
    for prompt in prompts:
        parts = prompt.split(placeholder)
        if len(parts) > 2 or (len(parts) == 2 and visual is None):
            raise ValueError(f"prompt {prompt!r}: at most one {placeholder}, and only with visual tokens")
        ids, kind = [encoder.start_token_id], ["special"]
        for i, part in enumerate(parts):
            words = tok(part.strip(), add_special_tokens=False)["input_ids"] if part.strip() else []
            ids += words
            kind += ["word"] * len(words)
            if i < len(parts) - 1:
                ids += [slot] * k
                kind += ["visual"] * k
        ids = [*ids[: encoder.max_length - 1], encoder.end_token_id]
        kind = [*kind[: encoder.max_length - 1], "special"]
        if encoder.full_padding:
            kind += ["padding"] * (encoder.max_length - len(ids))
            ids += [encoder.pad_token_id] * (encoder.max_length - len(ids))
        rows.append(ids)
        kinds.append(kind)
    length = max(len(r) for r in rows)
    device = encoder.device
    input_ids = torch.full((len(rows), length), encoder.pad_token_id, dtype=torch.long)
    names = ("mask", "visual", "word", "special", "padding")
    masks = {name: torch.zeros(len(rows), length, dtype=torch.bool) for name in names}
    for b, (ids, kind) in enumerate(zip(rows, kinds)):
        input_ids[b, : len(ids)] = torch.tensor(ids)
        masks["mask"][b, : len(ids)] = True
        for j, name in enumerate(kind):
            masks[name][b, j] = True
    masks = {name: m.to(device) for name, m in masks.items()}
    embeds = encoder.token_embeddings(input_ids.to(device))
    if k:
        assert visual is not None
        embeds = embeds.clone()
        slots = masks["visual"]
        per_row = slots.sum(1)
        if bool(((per_row != 0) & (per_row != k)).any()):
            raise ValueError("a prompt's visual tokens were truncated: shorten the prompt")
        has = per_row > 0
        embeds[slots] = visual.to(embeds.dtype)[has].reshape(-1, visual.shape[-1])
    states = encoder.encode_embeds(embeds, masks["mask"]) * masks["mask"][..., None]
    return Composed(states, masks["mask"], masks["visual"], masks["word"], masks["special"])


@dataclass
class SubjectTraining:
    steps: int = 300
    batch_size: int = 32
    lr: float = 1e-3
    warmup: int = 20
    min_snr_gamma: float | None = 5.0
    seed: int = 0


def train_subject_encoder(
    subject_encoder: SubjectEncoder,
    unet,
    scheduler,
    encoder: TextEncoder,
    images,
    prompts: list[str],
    config: SubjectTraining,
    curve: str = "subject_encoder/seed-",
) -> dict[str, list[float]]:
    """Train ``subject_encoder`` in place: frozen UNet and text encoder, reconstruct each reference from its prompt.

    ``images`` uint8 (N, H, W, 3), ``prompts`` (N) with one placeholder each. Returns the loss history.
    """
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    device = next(unet.parameters()).device
    x_all = to_model_range(images)
    unet.requires_grad_(False).eval()
    encoder.model.requires_grad_(False).eval()
    opt = torch.optim.AdamW(subject_encoder.parameters(), lr=config.lr, weight_decay=1e-4)
    warmup = max(1, config.warmup)

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, config.steps - warmup)))

    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    history: dict[str, list[float]] = {"loss": []}
    subject_encoder.train()
    n = len(x_all)
    for step in tqdm(range(config.steps), desc="subject encoder", leave=False):
        idx = torch.randint(0, n, (config.batch_size,), generator=generator)
        x0 = x_all[idx]
        noise = torch.randn(x0.shape, generator=generator)
        t = torch.randint(0, scheduler.config.num_train_timesteps, (len(idx),), generator=generator)
        xt = scheduler.add_noise(x0, noise, t)
        weights = snr_weights(scheduler, t, config.min_snr_gamma).to(device)
        visual = subject_encoder(x0.to(device))
        composed = compose(encoder, [prompts[i] for i in idx.tolist()], visual)
        pred = unet(
            xt.to(device), t.to(device), encoder_hidden_states=composed.states, encoder_attention_mask=composed.mask
        ).sample
        loss = (F.mse_loss(pred, noise.to(device), reduction="none").mean(dim=(1, 2, 3)) * weights).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(subject_encoder.parameters(), 1.0)
        opt.step()
        schedule.step()
        history["loss"].append(float(loss.detach()))
        if step % 10 == 0 or step == config.steps - 1:
            log_curve({"loss": sum(history["loss"][-10:]) / len(history["loss"][-10:])}, step, curve)
    subject_encoder.eval()
    return history


@dataclass
class SubjectAlignment:
    """Image-text alignment of the subject encoder before the denoising loss (BLIP-Diffusion's pre-training stage,
    here contrastive over the subjects' phrases): ``steps`` 0 skips it."""

    steps: int = 0
    batch_size: int = 64
    lr: float = 3e-3
    temperature: float = 0.05
    seed: int = 0


def pooled_states(composed: Composed) -> torch.Tensor:
    """Mean of a composed context's real rows, L2-normalized (B, D): the sentence embedding of MiniLM."""
    mask = composed.mask[..., None].to(composed.states.dtype)
    pooled = (composed.states * mask).sum(1) / mask.sum(1).clamp(min=1)
    return F.normalize(pooled, dim=-1)


def align_subject_encoder(
    subject_encoder: SubjectEncoder,
    encoder: TextEncoder,
    images,
    labels: torch.Tensor,
    phrases: list[str],
    config: SubjectAlignment,
    template: str = "a {}",
) -> dict[str, list[float]]:
    """Train ``subject_encoder`` in place so that "a S*" with its visual tokens reads like "a <phrase of the image's
    subject>" to the frozen text encoder: InfoNCE of the pooled states against every subject's phrase.

    ``images`` uint8 (N, H, W, 3), ``labels`` (N,) indices into ``phrases`` (one per subject). Only the text encoder
    runs (no UNet): identity is put into the tokens cheaply; the denoising loss then adds what the pixels need.
    Returns the loss and accuracy (the right phrase nearest) per step.
    """
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    device = encoder.device
    x_all = to_model_range(images)
    encoder.model.requires_grad_(False).eval()
    with torch.no_grad():
        targets = pooled_states(compose(encoder, [template.format(p) for p in phrases], None))
    prompt = template.format(PLACEHOLDER)
    opt = torch.optim.AdamW(subject_encoder.parameters(), lr=config.lr, weight_decay=1e-4)
    history: dict[str, list[float]] = {"loss": [], "accuracy": []}
    subject_encoder.train()
    for _ in tqdm(range(config.steps), desc="subject alignment", leave=False):
        idx = torch.randint(0, len(x_all), (config.batch_size,), generator=generator)
        visual = subject_encoder(x_all[idx].to(device))
        pooled = pooled_states(compose(encoder, [prompt] * len(idx), visual))
        logits = pooled @ targets.T / config.temperature
        target = labels[idx].to(device)
        loss = F.cross_entropy(logits, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(subject_encoder.parameters(), 1.0)
        opt.step()
        history["loss"].append(float(loss.detach()))
        history["accuracy"].append(float((logits.argmax(1) == target).float().mean()))
    subject_encoder.eval()
    return history
