"""The DC-style ConvNet of the dataset-condensation literature (Zhao & Bilen).

``depth`` blocks of conv3x3(width) -> norm -> ReLU -> avg-pool(2), then one linear layer.
Instance norm is ``GroupNorm(width, width)`` as in the DC/DM reference code. The reference
pads the first convolution by 3 on one-channel images (``networks.py``: ``padding=3 if
channel == 1 and d == 0``, MNIST's 28 px become 32); ``grey_stem_padding`` sets that padding
(default 1, a plain "same" convolution).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

Norm = Literal["instancenorm", "batchnorm", "none"]


def _norm(kind: Norm, channels: int) -> nn.Module:
    if kind == "instancenorm":
        return nn.GroupNorm(channels, channels, affine=True)
    if kind == "batchnorm":
        return nn.BatchNorm2d(channels)
    return nn.Identity()


class ConvNet(nn.Module):
    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        image_size: int,
        width: int = 128,
        depth: int = 3,
        norm: Norm = "instancenorm",
        grey_stem_padding: int = 1,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels, size = in_channels, image_size
        for d in range(depth):
            padding = grey_stem_padding if d == 0 and in_channels == 1 else 1
            size += 2 * padding - 2
            layers += [nn.Conv2d(channels, width, 3, padding=padding), _norm(norm, width), nn.ReLU(inplace=True)]
            if size >= 2:
                layers.append(nn.AvgPool2d(2))
                size //= 2
            channels = width
        self.features = nn.Sequential(*layers)
        self.embedding_dim = width * size * size
        self.classifier = nn.Linear(self.embedding_dim, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Flattened features before the classifier (the DM embedding)."""
        return self.features(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))
