"""torchvision ResNets built from scratch (``weights=None``: nothing is ever downloaded).

ResNet-50 is the paper model of gig; pretrained ImageNet weights can be given as a *local*
state-dict file (``ModelConfig.weights``), loaded by the registry.
"""

from __future__ import annotations

from torch import nn


def resnet50(in_channels: int, num_classes: int, image_size: int, small_stem: bool) -> nn.Module:
    import torchvision  # here, not at import: torchvision pulls in torch._dynamo (seconds per process)

    model = torchvision.models.resnet50(weights=None, num_classes=num_classes)
    if small_stem:  # small images: CIFAR-style 3x3 stem, no max-pool
        model.conv1 = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
        model.maxpool = nn.Identity()
    return model
