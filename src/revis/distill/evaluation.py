"""The evaluation protocol shared by the distillation papers: train N fresh ConvNets on a set.

A (synthetic or selected) set is judged by the test accuracy of networks trained from
scratch on it alone, mean ± std over N seeds (DC/DM: SGD lr 0.01, momentum 0.9, wd 5e-4,
lr x0.1 at half-time; 20 models at paper scale). Training is ``revis.training``'s seeded trainer.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from revis.models import ModelConfig, build_model
from revis.reporting.summary import mean_std
from revis.training import TrainConfig, accuracy, train_classifier


def train_fresh_models(
    x: torch.Tensor,
    y: torch.Tensor,
    shape: tuple[int, int, int],
    model: ModelConfig | dict,
    train: TrainConfig | dict,
    seeds: list[int],
    *,
    device: str | torch.device = "cpu",
    progress: bool = True,
    desc: str = "eval",
) -> list[nn.Module]:
    """One freshly initialised network per seed (C, K, S = ``shape``), trained on (x, y) only."""
    models = []
    for seed in seeds:
        torch.manual_seed(seed)
        net = build_model(model, *shape)
        train_classifier(net, x, y, train, seed, device=device, progress=progress, desc=f"{desc} seed {seed}")
        models.append(net.cpu())
    return models


def score_models(models: list[nn.Module], x_test: torch.Tensor, y_test: torch.Tensor) -> list[float]:
    return [accuracy(net, x_test, y_test) for net in models]


def evaluate_protocol(
    x: torch.Tensor,
    y: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    num_classes: int,
    model: ModelConfig | dict,
    train: TrainConfig | dict,
    seeds: list[int],
    **kwargs: Any,
) -> dict[str, Any]:
    """Train one network per seed on (x, y); test accuracy mean ± std and the per-seed values."""
    models = train_fresh_models(x, y, (x.shape[1], num_classes, x.shape[-1]), model, train, seeds, **kwargs)
    accs = score_models(models, x_test, y_test)
    return {**mean_std(accs), "values": accs}
