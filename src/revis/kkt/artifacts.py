"""What dsv's stages persist per chain (``str(Chain)`` keys), typed: dicts of tensors and plain containers,
so ``TorchDataset`` (``weights_only=True``) and ``JsonDataset`` files are these dicts themselves. A module of
types only (torch, no algorithms): a stage that reads an artifact imports it without the code that wrote it."""

from __future__ import annotations

from typing import Any, TypedDict

import torch


class RealFit(TypedDict):
    """One λ fit (``revis.kkt.real.fit_real_job``'s result)."""

    lam: torch.Tensor  # (N,) λ ≥ 0 (pruned samples hold 0)
    alive: torch.Tensor  # (N,) bool
    scale: float  # the starting value of every λ, 1/(N·wd)
    history: dict[str, list[float]]


class ChainLambdas(RealFit):
    """One chain's λ fit as ``dsv.lambdas`` persists it (``str(Chain)`` -> this): the fit and the labels."""

    labels: torch.Tensor  # (N,) the training labels the fit saw


ChainSubsets = dict[str, dict[str, list[int]]]  # dsv.subsets per chain: "top_lambda" | "random" -> "<k>" -> indices


class SynthesisRecord(TypedDict):
    """One DSV synthesis (``revis.kkt.synthesis.synthesize_job``'s result), as ``dsv.dsvs`` persists it per chain and set."""

    images: torch.Tensor  # (M, C, H, W) the candidates that survived (λ ≥ 0)
    labels: torch.Tensor  # (M,)
    lam: torch.Tensor  # (M,)
    initial: torch.Tensor  # (N, C, H, W) every candidate before optimization
    initial_labels: torch.Tensor  # (N,)
    alive: torch.Tensor  # (N,) which candidates survived
    history: dict[str, list[float]]
    guard: dict[str, Any]  # revis.distill.guard: the step size used, restarts, diverged
