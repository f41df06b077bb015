"""One seeded classifier trainer, used by every paper's retraining and evaluation protocol.

Deterministic on CPU for a given seed (own RNG streams for shuffling and augmentation).
Under ``torchrun`` it trains with DistributedDataParallel: every rank draws the same
permutation and takes its own stride of it, gradients are averaged by DDP, and only rank 0
shows progress and writes checkpoints.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
import torch.distributed as dist
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn
from tqdm.auto import tqdm

from revis.atomic import atomic_file
from revis.curves import log_curve

log = logging.getLogger(__name__)


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    epochs: int = Field(default=10, ge=1, le=100_000)
    batch_size: int = Field(default=64, ge=1)
    lr: float = Field(default=0.01, gt=0)
    momentum: float = Field(default=0.9, ge=0, lt=1)
    weight_decay: float = Field(default=5e-4, ge=0)
    optimizer: Literal["sgd", "adam"] = "sgd"
    schedule: Literal["cosine", "step", "constant"] = "cosine"
    augment: Literal["none", "flip_crop", "crop"] = "none"


@dataclass
class TrainHistory:
    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[float]]:
        return {"loss": self.loss, "accuracy": self.accuracy}


def distributed_context() -> tuple[int, int]:
    """(rank, world size); (0, 1) outside torchrun."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _augment(x: torch.Tensor, kind: str, generator: torch.Generator) -> torch.Tensor:
    if kind == "none":
        return x
    if kind == "flip_crop":
        flip = torch.rand(x.shape[0], generator=generator) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    pad = max(1, x.shape[-1] // 8)
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    dy, dx = (int(v) for v in torch.randint(0, 2 * pad + 1, (2,), generator=generator))
    return padded[..., dy : dy + x.shape[-2], dx : dx + x.shape[-1]]


def _optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)


def _scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig) -> torch.optim.lr_scheduler.LRScheduler:
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    if config.schedule == "step":  # x0.1 at half-time, the DC/DM evaluation protocol
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, config.epochs // 2), gamma=0.1)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)


def save_checkpoint(path: str | os.PathLike, model: nn.Module, **extra: object) -> None:
    """``torch.save`` of the state dict plus plain metadata, written atomically."""
    model = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
    with atomic_file(path) as tmp:
        torch.save({"model": model.state_dict(), **extra}, tmp)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Load a checkpoint safely: tensors and plain containers only (``weights_only=True``)."""
    return torch.load(Path(path), map_location="cpu", weights_only=True)


def train_classifier(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    config: TrainConfig | dict,
    seed: int,
    *,
    device: str | torch.device = "cpu",
    progress: bool = True,
    desc: str = "train",
    checkpoint: str | os.PathLike | None = None,
    curve: str | None = None,
) -> TrainHistory:
    """Train ``model`` in place on (x, y) with cross-entropy; returns per-epoch loss/accuracy.

    ``curve`` (``revis.curves.curve_key``) names the loss/accuracy curves for the tracker (``<arm>/seed<k>/loss``).
    """
    config = config if isinstance(config, TrainConfig) else TrainConfig.model_validate(config)
    rank, world = distributed_context()
    generator = torch.Generator().manual_seed(seed)
    model.to(device).train()
    net: nn.Module = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(model, device_ids=None if str(device) == "cpu" else [device])
    optimizer = _optimizer(model, config)
    scheduler = _scheduler(optimizer, config)
    history = TrainHistory()
    batch = max(1, config.batch_size // world)
    epochs = tqdm(range(config.epochs), desc=desc, disable=not progress or rank != 0, leave=False)
    for _ in epochs:
        order = torch.randperm(len(x), generator=generator)[rank::world]
        total_loss, correct, seen = 0.0, 0, 0
        for start in range(0, len(order), batch):
            index = order[start : start + batch]
            xb = _augment(x[index], config.augment, generator).to(device)
            yb = y[index].to(device)
            logits = net(xb)
            loss = F.cross_entropy(logits, yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total_loss += float(loss.detach()) * len(index)
            correct += int((logits.argmax(1) == yb).sum())
            seen += len(index)
        scheduler.step()
        stats = torch.tensor([total_loss, correct, seen], dtype=torch.float64)
        if world > 1:
            dist.all_reduce(stats)
        history.loss.append(float(stats[0] / stats[2]))
        history.accuracy.append(float(stats[1] / stats[2]))
        epochs.set_postfix(loss=f"{history.loss[-1]:.3f}", acc=f"{history.accuracy[-1]:.3f}")
        if curve is not None and rank == 0:
            log_curve({"loss": history.loss[-1], "accuracy": history.accuracy[-1]}, len(history.loss), curve)
        if checkpoint is not None and rank == 0:
            save_checkpoint(
                checkpoint, model, epoch=len(history.loss), history=history.to_dict(), config=config.model_dump()
            )
    model.eval()
    return history


@torch.no_grad()
def predict_logits(
    model: nn.Module, x: torch.Tensor, batch_size: int = 512, device: str | torch.device = "cpu"
) -> torch.Tensor:
    model.to(device).eval()
    return torch.cat([model(x[i : i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> float:
    return float((predict_logits(model, x, batch_size).argmax(1) == y).float().mean())
