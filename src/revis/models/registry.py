"""One model registry: every network is built by name from a config (torchvision-style)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from revis.datasets.imageset import DataError
from revis.models.config import ModelConfig
from revis.models.convnet import ConvNet
from revis.models.patches import PatchClassifier, PatchCNN, TinyViT
from revis.models.resnet import resnet50


def _resnet18(in_channels: int, num_classes: int, image_size: int, config: ModelConfig) -> nn.Module:
    import torchvision  # here, not at import: torchvision pulls in torch._dynamo (seconds per process)

    model = torchvision.models.resnet18(weights=None, num_classes=num_classes)
    if image_size <= 64 or in_channels != 3:  # small images: CIFAR-style 3x3 stem, no max-pool
        model.conv1 = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
        model.maxpool = nn.Identity()
    return model


def _convnet(in_channels: int, num_classes: int, image_size: int, config: ModelConfig) -> nn.Module:
    return ConvNet(
        in_channels,
        num_classes,
        image_size,
        width=config.width,
        depth=config.depth,
        norm=config.norm,
        grey_stem_padding=config.grey_stem_padding,
    )


def _resnet50(in_channels: int, num_classes: int, image_size: int, config: ModelConfig) -> nn.Module:
    # a weights file fixes the architecture: keep torchvision's ImageNet stem then
    return resnet50(in_channels, num_classes, image_size, small_stem=config.weights is None and image_size <= 64)


def _patch_cnn(in_channels: int, num_classes: int, image_size: int, config: ModelConfig) -> nn.Module:
    features = PatchCNN(in_channels, image_size, config.width, config.depth, config.patch, config.norm)
    return PatchClassifier(features, num_classes)


def _tiny_vit(in_channels: int, num_classes: int, image_size: int, config: ModelConfig) -> nn.Module:
    return PatchClassifier(TinyViT(in_channels, image_size, config.width, config.depth, config.patch), num_classes)


MODELS: dict[str, Callable[[int, int, int, ModelConfig], nn.Module]] = {
    "convnet": _convnet,
    "resnet18": _resnet18,
    "resnet50": _resnet50,
    "patch_cnn": _patch_cnn,
    "tiny_vit": _tiny_vit,
}


def load_weights(model: nn.Module, path: str) -> nn.Module:
    """Load a local state dict (a plain one, or a revis checkpoint's ``model``) with ``weights_only=True``."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise DataError(f"missing weights file {path}") from None
    except Exception as exc:  # corrupt or not a tensor file
        raise DataError(f"cannot read weights file {path}: {exc}") from exc
    state = state.get("model", state) if isinstance(state, dict) else state
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError) as exc:
        raise DataError(f"weights file {path} does not fit the model: {str(exc)[:300]}") from exc
    return model


def build_model(config: ModelConfig | dict, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    """Build a classifier, freshly initialised or from a local weights file (never downloads weights)."""
    config = config if isinstance(config, ModelConfig) else ModelConfig.model_validate(config)
    model = MODELS[config.name](in_channels, num_classes, image_size, config)
    return model if config.weights is None else load_weights(model, config.weights)
