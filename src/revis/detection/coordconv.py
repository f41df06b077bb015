"""CoordConv inside an ultralytics DetectionModel: coordinate channels appended to chosen layers' inputs.

``add_coordconv(model, layers)`` wraps each chosen layer (an index into ``model.model``) so
that its input gets normalised ``x`` and ``y`` channels (and ``r``, the distance from the
centre, with ``with_r``) before its first convolution, which is widened to take them. The
channels are computed from the feature map's own shape at every forward pass, i.e. *after*
augmentation: a horizontally flipped image still sees ``x = -1`` at its left edge. (Baking
coordinates into the image instead would flip them with the pixels, and mosaics would cut
them up.) This is what makes features translation-variant (Liu et al. 2018, CoordConv),
LADA's means of exploiting that smoke appears in location-dependent parts of fixed-camera
frames.

The new input channels' weights start at zero, so a wrapped model computes exactly what the
plain model with the same initial weights computes until training moves them: a comparison
with and without CoordConv differs only in what the coordinates let the model learn.
Layers whose first operation is a convolution (ultralytics ``Conv``, ``C2f``, ``SPPF``,
``C3``, ...) can be wrapped; ``Concat``, ``Upsample`` and ``Detect`` cannot.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from revis.detection.layers import yolo_layers

# attributes ultralytics' DetectionModel._predict_once reads from every layer
ROUTING = ("f", "i", "type", "np")


def coordinate_channels(x: torch.Tensor, with_r: bool = False) -> torch.Tensor:
    """(B, 2 or 3, H, W): x and y in [-1, 1] (left/top = -1), and r = sqrt(x^2 + y^2) / sqrt(2)."""
    batch, _, height, width = x.shape
    ys = torch.linspace(-1.0, 1.0, height, device=x.device, dtype=x.dtype).view(1, 1, height, 1)
    xs = torch.linspace(-1.0, 1.0, width, device=x.device, dtype=x.dtype).view(1, 1, 1, width)
    channels = [xs.expand(batch, 1, height, width), ys.expand(batch, 1, height, width)]
    if with_r:
        channels.append(torch.sqrt(channels[0] ** 2 + channels[1] ** 2) / 2**0.5)
    return torch.cat(channels, dim=1)


def _first_conv_owner(layer: nn.Module) -> tuple[nn.Module, str]:
    """(module, attribute) holding the nn.Conv2d that first reads ``layer``'s input."""
    if isinstance(getattr(layer, "conv", None), nn.Conv2d):  # ultralytics Conv
        return layer, "conv"
    first = getattr(layer, "cv1", None)  # C2f, C3, SPPF, Bottleneck-style blocks start with cv1
    if first is not None and isinstance(getattr(first, "conv", None), nn.Conv2d):
        return first, "conv"
    raise ValueError(f"CoordConv cannot wrap a {type(layer).__name__} layer (no leading convolution)")


def _pair(size: tuple[int, ...]) -> tuple[int, int]:
    """A Conv2d's stored (height, width) size or step."""
    return (size[0], size[1])


class CoordLayer(nn.Module):
    """One DetectionModel layer whose input gets coordinate channels (module doc)."""

    def __init__(self, layer: nn.Module, with_r: bool = False) -> None:
        super().__init__()
        owner, name = _first_conv_owner(layer)
        conv: nn.Conv2d = getattr(owner, name)
        if conv.groups != 1:
            raise ValueError(
                f"CoordConv needs an ungrouped first convolution, {type(layer).__name__} has groups={conv.groups}"
            )
        extra = 3 if with_r else 2
        widened = nn.Conv2d(
            conv.in_channels + extra,
            conv.out_channels,
            _pair(conv.kernel_size),
            _pair(conv.stride),
            conv.padding if isinstance(conv.padding, str) else _pair(conv.padding),
            _pair(conv.dilation),
            bias=conv.bias is not None,
        ).to(conv.weight.device, conv.weight.dtype)
        with torch.no_grad():
            widened.weight.zero_()
            widened.weight[:, : conv.in_channels].copy_(conv.weight)
            if conv.bias is not None and widened.bias is not None:
                widened.bias.copy_(conv.bias)
        setattr(owner, name, widened)
        self.layer = layer
        self.with_r = with_r
        for attribute in ROUTING:
            if hasattr(layer, attribute):
                setattr(self, attribute, getattr(layer, attribute))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(torch.cat([x, coordinate_channels(x, self.with_r)], dim=1))


def add_coordconv(model: nn.Module, layers: Sequence[int], with_r: bool = False) -> nn.Module:
    """Wrap ``model.model[i]`` for each ``i`` in ``layers`` (in place); returns the model."""
    seen = set()
    sequence = yolo_layers(model)
    for index in layers:
        if index in seen:
            raise ValueError(f"CoordConv layer {index} given twice")
        seen.add(index)
        if not 0 <= index < len(sequence) - 1:  # the last layer is the Detect head
            raise ValueError(f"CoordConv layer {index} is not a layer of this model (0..{len(sequence) - 2})")
        if isinstance(sequence[index], CoordLayer):
            raise ValueError(f"layer {index} already has CoordConv channels")
        sequence[index] = CoordLayer(sequence[index], with_r)
    return model


def coordconv_layers(model: nn.Module) -> list[int]:
    """Indices of the layers that receive coordinate channels."""
    return [i for i, layer in enumerate(yolo_layers(model)) if isinstance(layer, CoordLayer)]
