"""A dual encoder: an image tower and a text tower into one space, cosine similarity, learned temperature.

``DualEncoder.embed_images(frames)`` / ``embed_texts(texts)`` return L2-normalised embeddings
(no gradients, batched, on the CPU) -- the interface other pipelines use (retrieval, highlight
scores). ``image_features`` / ``text_features`` are the same with gradients, for training.
``set_trainable(encoder, last_layers)`` freezes everything except the last ``k`` blocks (and
heads) of both towers, or nothing but the token tables (``last_layers=None``: full tuning).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import nn

from revis.vl.towers import State, Tower, concat_states

LOGIT_SCALE_MAX = math.log(100.0)


class DualEncoder(nn.Module):
    def __init__(self, image: Tower, text: Tower, logit_scale: float = math.log(1 / 0.07)) -> None:
        super().__init__()
        self.image = image
        self.text = text
        self.logit_scale = nn.Parameter(torch.tensor(float(logit_scale)))

    @property
    def device(self) -> torch.device:
        return self.logit_scale.device

    @property
    def temperature(self) -> float:
        return float(1.0 / self.logit_scale.detach().clamp(max=LOGIT_SCALE_MAX).exp())

    def image_features(self, images: object) -> torch.Tensor:
        return nn.functional.normalize(self.image(images), dim=-1)

    def text_features(self, texts: Sequence[str]) -> torch.Tensor:
        return nn.functional.normalize(self.text(list(texts)), dim=-1)

    def logits(self, image_features: torch.Tensor, text_features: torch.Tensor) -> torch.Tensor:
        """Scaled cosine similarities (images x texts), the temperature clamped at 1/100 as in CLIP."""
        return self.logit_scale.clamp(max=LOGIT_SCALE_MAX).exp() * image_features @ text_features.T

    @torch.no_grad()
    def embed_images(self, frames: object, batch_size: int = 256) -> torch.Tensor:
        """(N, D) normalised image embeddings of uint8 (N, H, W, 3) frames, computed in eval mode."""
        was_training = self.training
        self.eval()
        try:
            n = len(frames)  # type: ignore[arg-type]
            out = [self.image_features(frames[i : i + batch_size]).cpu() for i in range(0, n, batch_size)]  # type: ignore[index]
        finally:
            self.train(was_training)
        return torch.cat(out) if out else torch.zeros(0, 0)

    @torch.no_grad()
    def embed_texts(self, texts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
        """(N, D) normalised text embeddings, computed in eval mode."""
        was_training = self.training
        self.eval()
        try:
            texts = list(texts)
            out = [self.text_features(texts[i : i + batch_size]).cpu() for i in range(0, len(texts), batch_size)]
        finally:
            self.train(was_training)
        return torch.cat(out) if out else torch.zeros(0, 0)


def set_trainable(
    encoder: DualEncoder, last_layers: int | None, train_tables: bool = False, train_temperature: bool = False
) -> dict[str, int]:
    """Freeze all but the last ``last_layers`` blocks + heads of each tower (``None``: every block).

    Token-embedding tables stay frozen unless ``train_tables`` (they dominate the parameter
    count and only the rows of tokens in a batch receive gradient). Returns trainable counts.
    """
    for parameter in encoder.parameters():
        parameter.requires_grad_(False)
    counts: dict[str, int] = {}
    for name in ("image", "text"):
        tower: Tower = getattr(encoder, name)
        blocks = tower.blocks()
        if last_layers is not None and not 0 <= last_layers <= len(blocks):
            raise ValueError(f"last_layers={last_layers} but the {name} tower has {len(blocks)} blocks")
        chosen = blocks if last_layers is None else blocks[len(blocks) - last_layers :]
        parameters = [p for block in chosen for p in block.parameters] + tower.head_parameters()
        tables = {id(p) for p in tower.table_parameters()}
        for parameter in parameters:
            if train_tables or id(parameter) not in tables:
                parameter.requires_grad_(True)
        counts[name] = sum(p.numel() for p in tower.parameters() if p.requires_grad)
    encoder.logit_scale.requires_grad_(train_temperature)
    counts["trainable"] = sum(p.numel() for p in encoder.parameters() if p.requires_grad)
    counts["total"] = sum(p.numel() for p in encoder.parameters())
    return counts


def frozen_prefix_blocks(tower: Tower, last_layers: int | None) -> int:
    """How many leading blocks are frozen (and can be cached) when tuning the last ``last_layers``."""
    return 0 if last_layers is None else tower.num_blocks - last_layers


@torch.no_grad()
def cached_prefix(tower: Tower, inputs: Sequence[object] | np.ndarray, stop: int, batch_size: int = 256) -> State:
    """``run(prepare(x), 0, stop)`` for all inputs in batches, concatenated (padded for token states)."""
    was_training = tower.training
    tower.eval()
    try:
        states = [
            tower.run(tower.prepare(inputs[i : i + batch_size]), 0, stop) for i in range(0, len(inputs), batch_size)
        ]
    finally:
        tower.train(was_training)
    return concat_states(states)


@contextlib.contextmanager
def as_in_a_job() -> Iterator[None]:
    """One torch thread, as a ``revis.workers.map_jobs`` job has: what a stage computes once for all its jobs (a
    shared input) then has the numbers each job would have computed for itself."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@torch.no_grad()
def pooled_texts(encoder: DualEncoder, texts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
    """The frozen text backbone's pooled embedding of every text (before the trainable head)."""
    tower = encoder.text
    was_training = tower.training
    tower.eval()
    try:
        out = [
            tower.pool(tower.run(tower.prepare(texts[i : i + batch_size]))) for i in range(0, len(texts), batch_size)
        ]
    finally:
        tower.train(was_training)
    return torch.cat(out)


def shared_depth(reference: Tower, tower: Tower) -> int:
    """How many leading blocks of ``tower`` hold exactly the same weights as ``reference``'s."""
    if type(reference) is not type(tower):
        return 0
    depth = 0
    for a, b in zip(reference.blocks(), tower.blocks()):
        if len(a.parameters) != len(b.parameters) or not all(
            torch.equal(x, y) for x, y in zip(a.parameters, b.parameters)
        ):
            break
        depth += 1
    return depth


@torch.no_grad()
def embed_texts_sharing_prefix(encoders: Sequence[DualEncoder], texts: Sequence[str]) -> list[torch.Tensor]:
    """``[e.embed_texts(texts) for e in encoders]``, computing blocks that the encoders share only once.

    Encoders fine-tuned from one text backbone (zero-shot, last-k tuned) keep its first blocks
    unchanged; those are run once for all of them (exact: the weights are equal, checked).
    """
    texts = list(texts)
    reference = encoders[0].text
    depths = [shared_depth(reference, e.text) for e in encoders]
    sharing = [d for d in depths if d > 0]
    start = min(sharing) if sharing else 0
    prefix = cached_prefix(reference, texts, start) if start else None
    out = []
    for encoder, depth in zip(encoders, depths):
        if prefix is not None and depth >= start:
            was_training = encoder.training
            encoder.eval()
            tower = encoder.text
            z = tower.project(tower.pool(tower.run(prefix.to(encoder.device), start)))
            encoder.train(was_training)
            out.append(nn.functional.normalize(z, dim=-1).cpu())
        else:
            out.append(encoder.embed_texts(texts))
    return out
