"""What dkkt's distill stage persists per chain (``str(Chain)`` keys), typed: dicts of tensors and plain
containers, so the ``TorchDataset`` / ``JsonDataset`` files are these dicts themselves. Types only (torch, no
algorithms): the stages that read them import them without the code that wrote them."""

from __future__ import annotations

from typing import Any, TypedDict

import torch

VisibleSubsets = dict[str, list[int]]  # dkkt.visible per chain: fraction key -> indices into the training split


class DistilledSet(TypedDict):
    images: torch.Tensor
    labels: torch.Tensor


class DistilledChain(TypedDict):
    """``dkkt.distilled`` per chain: every method's set per ``"<fraction>/<ipc>"`` and its histories."""

    visible: dict[str, int]  # fraction key -> visible training images
    shape: list[int]  # (C, K, S)
    sets: dict[str, dict[str, DistilledSet]]  # "<fraction>/<ipc>" -> method -> set
    histories: dict[str, dict[str, dict[str, Any]]]  # "<fraction>/<ipc>" -> method -> loss curves (and guard)
