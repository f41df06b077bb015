"""A classifier seen as a chain of stages, so that any layer can be the start or end of a path.

Layer ``i`` is the output of ``stages[i]``; the last stage (the *head*) maps the last layer to
the class logits. ``tail(a, b)`` is the network from layer ``a`` to layer ``b`` (``b=None``:
to the logits) — the F_{a->b} of GIG. ``hook_modules`` are the modules of the *original*
model whose forward outputs are the layers, so PFVs can be read with forward hooks from an
unmodified model (``revis.attribution.pfv``). Stages share their modules with the model: no
copy, no second set of weights.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import torch
from torch import nn

from revis.models.convnet import ConvNet

if TYPE_CHECKING:
    from torchvision.models import ResNet  # imported lazily at run time (revis.models.resnet)


class InputNormalization(nn.Module):
    """``(x - mean) / std`` per channel: pretrained ImageNet models expect it, attributions stay in pixel space."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


@dataclass
class LayeredNetwork:
    model: nn.Module  # the whole classifier (pixels in [0, 1] -> logits)
    stages: list[nn.Module]  # len(names) + 1; the last one is the head
    names: list[str]
    hook_modules: list[nn.Module]  # module i of the model outputs layer i

    def __post_init__(self) -> None:
        if len(self.stages) != len(self.names) + 1 or len(self.hook_modules) != len(self.names):
            raise ValueError("need one stage per layer plus a head, and one hook module per layer")

    def index(self, layer: str | int) -> int:
        return layer if isinstance(layer, int) else self.names.index(layer)

    def tail(self, a: str | int, b: str | int | None = None) -> nn.Sequential:
        """F_{a->b}: layer ``a`` activation -> layer ``b`` activation (``None``: -> logits)."""
        start = self.index(a) + 1
        stop = len(self.stages) if b is None else self.index(b) + 1
        if stop <= start:
            raise ValueError(f"layer {b} does not come after layer {a}")
        return nn.Sequential(*self.stages[start:stop])

    def head(self, b: str | int) -> nn.Sequential:
        """Pixels -> layer ``b`` activation."""
        return nn.Sequential(*self.stages[: self.index(b) + 1])

    def eval(self) -> LayeredNetwork:
        self.model.eval()
        for stage in self.stages:
            stage.eval()
        return self


def _convnet_stages(model: ConvNet) -> tuple[list[nn.Module], list[str], list[nn.Module]]:
    blocks: list[list[nn.Module]] = []
    for module in model.features:
        if isinstance(module, nn.Conv2d):  # every block starts with its convolution
            blocks.append([])
        blocks[-1].append(module)
    stages: list[nn.Module] = [nn.Sequential(*block) for block in blocks]
    stages.append(nn.Sequential(nn.Flatten(1), model.classifier))
    return stages, [f"block{i + 1}" for i in range(len(blocks))], [block[-1] for block in blocks]


def _resnet_stages(model: ResNet) -> tuple[list[nn.Module], list[str], list[nn.Module]]:
    # torchvision ResNet: the stem joins layer1; layers 1-4 are the paper's blocks
    stem = nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool, model.layer1)
    stages = [stem, model.layer2, model.layer3, model.layer4, nn.Sequential(model.avgpool, nn.Flatten(1), model.fc)]
    return stages, ["layer1", "layer2", "layer3", "layer4"], [model.layer1, model.layer2, model.layer3, model.layer4]


def layered(model: nn.Module, normalization: tuple[list[float], list[float]] | None = None) -> LayeredNetwork:
    """Split a registry model (ConvNet or torchvision ResNet) into stages at its blocks."""
    if isinstance(model, ConvNet):
        stages, names, hooks = _convnet_stages(model)
    elif all(hasattr(model, part) for part in ("conv1", "layer1", "layer4", "fc")):
        stages, names, hooks = _resnet_stages(cast("ResNet", model))
    else:
        raise TypeError(f"no layer split known for {type(model).__name__}")
    if normalization is not None:
        norm = InputNormalization(*normalization)
        model = nn.Sequential(OrderedDict(normalize=norm, net=model))
        stages = [nn.Sequential(norm, stages[0]), *stages[1:]]
    return LayeredNetwork(model=model, stages=stages, names=names, hook_modules=hooks).eval()


def network_from_checkpoint(checkpoint: dict, device: str | torch.device = "cpu") -> LayeredNetwork:
    """The staged network of a self-describing checkpoint ``{"model", "shape", "state_dict", "normalize"}``."""
    from revis.models import ModelConfig, build_model

    config = ModelConfig.model_validate({**checkpoint["model"], "weights": None})  # weights: the state dict
    net = build_model(config, *checkpoint["shape"])
    net.load_state_dict(checkpoint["state_dict"])
    normalize = checkpoint.get("normalize")
    network = layered(net, None if normalize is None else (normalize[0], normalize[1]))
    network.model.to(device)
    return network
