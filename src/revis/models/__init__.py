"""Networks built by name: DC-style ConvNet, torchvision ResNets, patch backbones.

``ModelConfig`` (pydantic only) is importable without torch, so that validating params.yaml
stays cheap; ``build_model`` imports the registry (torch, torchvision) when first called.
"""

from typing import Any

from revis.models.config import ModelConfig


def build_model(*args: Any, **kwargs: Any) -> Any:
    """``registry.build_model``: a network by ``ModelConfig.name`` for the data's channels, classes, size."""
    from revis.models.registry import build_model as build

    return build(*args, **kwargs)


__all__ = ["ModelConfig", "build_model"]
