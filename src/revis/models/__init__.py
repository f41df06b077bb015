"""Networks built by name: DC-style ConvNet, torchvision ResNet-18 (and, later, paper models)."""

from revis.models.registry import ModelConfig, build_model

__all__ = ["ModelConfig", "build_model"]
