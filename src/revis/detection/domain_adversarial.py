"""Adversarial domain alignment (Adaptive Teacher, Li et al. 2022, the teacher-student LADA builds on).

A small *domain discriminator* reads the student's backbone features of every image in a
teacher-student step (source images: domain 0; labeled and unlabeled target images: domain 1)
through a *gradient-reversal layer*: the discriminator learns to tell the domains apart, while
the reversed gradient pushes the backbone towards features it cannot tell apart. The
discriminator is per location (a 3x3 then a 1x1 convolution, one logit per cell, binary
cross-entropy averaged over cells and images), as Adaptive Teacher's image-level discriminator
on the backbone's last map. ``weight`` scales the discriminator loss in the student's total
(Adaptive Teacher: 0.1); the reversal passes the gradient back unscaled.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from revis.detection.layers import yolo_layers


class _Reverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return -grad


def reverse_gradient(x: torch.Tensor) -> torch.Tensor:
    """Identity forward; the gradient flows back negated."""
    return _Reverse.apply(x)


class DomainDiscriminator(nn.Module):
    """One domain logit per feature-map cell (> 0: target)."""

    def __init__(self, channels: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(channels, hidden, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(hidden, 1, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(reverse_gradient(features))


class FeatureTap:
    """Keeps the output of one layer of an ultralytics DetectionModel (``model.model[layer]``) per forward."""

    def __init__(self, model: nn.Module, layer: int) -> None:
        layers = yolo_layers(model)
        if not 0 <= layer < len(layers):
            raise ValueError(f"domain_layer {layer} is not a layer of the detector (0-{len(layers) - 1})")
        self.output: torch.Tensor | None = None
        self._handle = layers[layer].register_forward_hook(self._keep)

    def _keep(self, module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        self.output = output

    def remove(self) -> None:
        self._handle.remove()


class DomainAlignment:
    """The discriminator, its optimiser and the tap on the student's backbone, for one arm's adaptation."""

    def __init__(self, student: nn.Module, layer: int, weight: float, lr: float, seed: int) -> None:
        self.tap = FeatureTap(student, layer)
        device = next(student.parameters()).device
        with torch.no_grad():  # the tapped layer's channel count, from a dry run
            student.eval()
            student(torch.zeros(1, 3, 64, 64, device=device))
        assert self.tap.output is not None
        with torch.random.fork_rng(devices=[]):  # initialised from the seed, the global stream untouched
            torch.manual_seed(seed)
            self.discriminator = DomainDiscriminator(int(self.tap.output.shape[1])).to(device)
        self.optimizer = torch.optim.AdamW(self.discriminator.parameters(), lr=lr)
        self.weight = weight

    def loss(self, domains: torch.Tensor) -> torch.Tensor:
        """Binary cross-entropy of the discriminator on the last forward's tapped features (``domains``: 0/1 per image)."""
        if self.tap.output is None or len(self.tap.output) != len(domains):
            raise RuntimeError("the tapped features do not belong to this batch (one forward per step)")
        logits = self.discriminator(self.tap.output)
        labels = domains.to(logits.device, logits.dtype).view(-1, 1, 1, 1).expand_as(logits)
        return F.binary_cross_entropy_with_logits(logits, labels)

    def accuracy(self, domains: torch.Tensor) -> float:
        """Share of images whose mean logit names their domain (0.5: the features no longer tell the domains apart)."""
        with torch.no_grad():
            assert self.tap.output is not None
            mean_logit = self.discriminator.net(self.tap.output).mean(dim=(1, 2, 3))
            return float(((mean_logit > 0).float().cpu() == domains.float()).float().mean())
