"""The architecture choice of a params.yaml section (pydantic only: validating it imports no torch)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from revis.config.types import DataPath


class ModelConfig(BaseModel):
    """Architecture choice; the data decide channels, classes and image size."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: Literal["convnet", "resnet18", "resnet50", "patch_cnn", "tiny_vit"] = "convnet"
    width: int = Field(default=128, ge=1, le=4096)
    depth: int = Field(default=3, ge=1, le=8)
    norm: Literal["instancenorm", "batchnorm", "none"] = "instancenorm"
    weights: DataPath = None  # a local state-dict file (e.g. torchvision's ResNet-50 ImageNet weights)
    patch: int = Field(default=4, ge=1, le=64)  # patch-grid models: the grid is image_size // patch
    grey_stem_padding: int = Field(default=1, ge=0, le=4)  # convnet: first conv's padding on 1-channel images (DC: 3)
