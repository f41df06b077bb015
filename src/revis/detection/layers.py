"""Typed access to what revis reads of an ultralytics ``DetectionModel``.

``nn.Module`` attributes type as ``Tensor | Module`` to a type checker; these helpers check at
run time that the model is what ultralytics builds (layers in an ``nn.Sequential``, the yaml
as a dict, class names as a dict) and return the part with its real type.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def yolo_layers(model: nn.Module) -> nn.Sequential:
    """``model.model``: the DetectionModel's layers (backbone, neck, the Detect head last)."""
    layers = model.model
    if not isinstance(layers, nn.Sequential):
        raise TypeError(f"{type(model).__name__}.model is {type(layers).__name__}, not a DetectionModel's layers")
    return layers


def model_yaml(model: nn.Module) -> dict[str, Any]:
    """The model's yaml (a dict), as ultralytics keeps it."""
    document: object = model.yaml
    if not isinstance(document, dict):
        raise TypeError(f"{type(model).__name__}.yaml is {type(document).__name__}, not a dict")
    return dict(document)


def class_names(model: nn.Module) -> dict[int, str]:
    """Class index -> name, as ultralytics keeps them on a trained model."""
    names: object = model.names
    if not isinstance(names, dict):
        raise TypeError(f"{type(model).__name__}.names is {type(names).__name__}, not a dict")
    return {int(k): str(v) for k, v in names.items()}


def strides(model: nn.Module) -> list[float]:
    """The strides of the Detect head's maps."""
    stride: object = model.stride
    if not isinstance(stride, torch.Tensor):
        raise TypeError(f"{type(model).__name__}.stride is {type(stride).__name__}, not a tensor")
    return [float(s) for s in stride.tolist()]
