"""Patch-grid backbones trained from scratch: a small CNN and a tiny ViT patch embedding.

Both map images (B, C, S, S) to a grid of patch embeddings (B, L, D) with L = (S // patch)^2,
the input a concept head such as Bi-ICE (``revis.concepts``) works on. As registry models
they are classifiers: ``PatchClassifier`` = patch embedder + mean over patches + linear head
(the "backbone + linear head" baseline); ``.features`` is the embedder alone.
``PatchMLPClassifier`` is the nonlinear baseline head: an MLP on the same mean-pooled patch
features as the linear head; ``mlp_hidden_width`` sizes it to a given parameter count, so heads
can be compared at equal capacity.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from revis.models.convnet import Norm, _norm


class PatchCNN(nn.Module):
    """A patchify stem (conv patch x patch, stride patch) then ``depth - 1`` conv3x3 blocks on the grid.

    Each block is conv -> norm -> ReLU; the 3x3 convolutions on the patch grid widen the
    receptive field to (1 + 2 (depth - 1)) patches, enough to see a whole object. Working on
    the grid from the first layer keeps it cheap on a CPU.
    """

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        width: int = 32,
        depth: int = 3,
        patch: int = 4,
        norm: Norm = "instancenorm",
    ) -> None:
        super().__init__()
        if image_size % patch:
            raise ValueError(f"patch_cnn needs a patch size dividing the image size, got {patch} for {image_size}")
        layers: list[nn.Module] = [nn.Conv2d(in_channels, width, patch, stride=patch), _norm(norm, width), nn.ReLU()]
        for _ in range(depth - 1):
            layers += [nn.Conv2d(width, width, 3, padding=1), _norm(norm, width), nn.ReLU()]
        self.layers = nn.Sequential(*layers)
        self.grid = image_size // patch
        self.dim = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x).flatten(2).transpose(1, 2)  # (B, L, D), patches in row-major order


class TinyViT(nn.Module):
    """Non-overlapping patch embedding + learned positions + ``depth`` pre-norm transformer layers."""

    def __init__(self, in_channels: int, image_size: int, width: int = 64, depth: int = 2, patch: int = 4) -> None:
        super().__init__()
        if image_size % patch:
            raise ValueError(f"tiny_vit needs a patch size dividing the image size, got {patch} for {image_size}")
        self.grid = image_size // patch
        self.dim = width
        self.embed = nn.Conv2d(in_channels, width, patch, stride=patch)
        self.position = nn.Parameter(torch.randn(1, self.grid * self.grid, width) * 0.02)
        heads = next(h for h in (4, 2, 1) if width % h == 0)
        layer = nn.TransformerEncoderLayer(
            width, heads, 2 * width, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(x).flatten(2).transpose(1, 2) + self.position
        return self.norm(self.encoder(tokens))


class PatchClassifier(nn.Module):
    """Patch embedder + mean over patches + linear head."""

    def __init__(self, features: PatchCNN | TinyViT, num_classes: int) -> None:
        super().__init__()
        self.features = features
        self.classifier = nn.Linear(features.dim, num_classes)

    def patches(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).mean(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))


class PatchMLPClassifier(nn.Module):
    """Patch embedder + mean over patches + an MLP head (LayerNorm, two hidden GELU layers of width ``hidden``).

    (An MLP on every patch with its logits averaged was tried too: on the shapes world's validation
    split it was worse, 0.78 against 0.90 at the best learning rate of each, and 64x the head's compute.)
    """

    def __init__(self, features: PatchCNN | TinyViT, num_classes: int, hidden: int) -> None:
        super().__init__()
        self.features = features
        dim = features.dim
        self.classifier = nn.Sequential(
            nn.LayerNorm(dim),
            nn.Linear(dim, hidden),
            nn.GELU(),
            nn.Linear(hidden, hidden),
            nn.GELU(),
            nn.Linear(hidden, num_classes),
        )

    def patches(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).mean(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))


def mlp_head_parameters(dim: int, num_classes: int, hidden: int) -> int:
    """Parameters of ``PatchMLPClassifier.classifier``: LayerNorm + D->h + h->h + h->C (with biases)."""
    return 2 * dim + (dim + 1) * hidden + (hidden + 1) * hidden + (hidden + 1) * num_classes


def mlp_hidden_width(parameters: int, dim: int, num_classes: int) -> int:
    """The hidden width whose MLP head has the parameter count closest to ``parameters``."""
    # h^2 + (D + C + 2) h + (2D + C - P) = 0, then the nearer of the two integers around the root
    b, c = dim + num_classes + 2, 2 * dim + num_classes - parameters
    root = (-b + math.sqrt(max(b * b - 4 * c, 0.0))) / 2
    candidates = {max(1, math.floor(root)), max(1, math.ceil(root))}
    return min(candidates, key=lambda h: abs(mlp_head_parameters(dim, num_classes, h) - parameters))
