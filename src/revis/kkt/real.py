"""DeepKKT use (a): multipliers λ for the real training samples, with the images fixed.

With x fixed the per-sample gradients G (N x P) are constants, computed once in vectorized
chunks (``vmap``): here the matrix is reused at every step, so per-sample rows pay off
(``method="matrix"``). When N x P does not fit in memory (CIFAR-10 with all parameters of a
width-128 ConvNet: 50,000 x 320,000), ``method="implicit"`` never forms G: each step computes
the residual r = θ* + ∇_θ Σ λ_i L_i with one backward pass per chunk, and the gradient in λ,
(G s)_i = ∇_θ L_i · s with s = ∂D/∂r, with one forward-mode pass (jvp) per chunk. Only
λ is optimized: minimize D(θ*, −λᵀG)/D(θ*, 0) with λ ≥ 0 by pruning, starting from the KKT
multipliers of the training objective, λ_i = 1/(N·wd). The result ranks the training set: the
samples with the largest λ carry the most of θ* (the model's support vectors), and Σλ per
class says how much of θ* each class accounts for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Literal, Protocol

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, jvp
from tqdm.auto import tqdm

from revis.kkt.artifacts import ChainSubsets, RealFit
from revis.kkt.deepkkt import Distance, Multipliers, ParameterSet, distance, initial_multiplier, stationarity_loss
from revis.kkt.gradients import (
    flatten_grads,
    flatten_params,
    frozen_parameters,
    identifiable_parameters,
    per_sample_grads,
    weighted_loss_grad,
)
from revis.kkt.teacher import TeacherState


@dataclass
class RealMultipliers:
    lam: torch.Tensor  # (N,) λ ≥ 0 (pruned samples hold 0)
    alive: torch.Tensor  # (N,) bool
    scale: float  # the starting value of every λ, 1/(N·wd)
    history: dict[str, list[float]] = field(default_factory=dict)  # stationarity ratio and alive count per step


def real_multipliers(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    weight_decay: float,
    steps: int,
    lr: float,
    distance_kind: Distance = "l1",
    parameters: ParameterSet = "identifiable",
    chunk_size: int = 256,
    method: Literal["matrix", "implicit"] = "matrix",
    device: str | torch.device = "cpu",
    progress: bool = True,
    desc: str = "lambda",
) -> RealMultipliers:
    """Fit λ for fixed real samples (Adam, learning rate relative to the starting value; pruning)."""
    model = model.to(device).eval().requires_grad_(False)
    names = identifiable_parameters(model, x[:4].to(device)) if parameters == "identifiable" else None
    theta = frozen_parameters(model, names)
    theta_flat = flatten_params(theta)
    theta_scale = float(distance(theta_flat, distance_kind))
    scale = initial_multiplier(len(x), weight_decay)
    lam = Multipliers(torch.full((len(x),), scale, device=device, dtype=x.dtype))
    optimizer = torch.optim.Adam([lam.values], lr=lr * scale)
    history: dict[str, list[float]] = {"stat": [], "alive": []}
    fit = _Fit(model, theta, theta_flat, theta_scale, lam, optimizer, distance_kind)
    if method == "matrix":
        ratio, step_gradient = _matrix_objective(fit, x, y, chunk_size, device)
    elif method == "implicit":
        ratio, step_gradient = _implicit_objective(fit, x, y, chunk_size, device)
    else:
        raise ValueError(f"method must be 'matrix' or 'implicit', got {method!r}")
    bar = tqdm(range(steps), desc=desc, disable=not progress, leave=False)
    for _ in bar:
        history["stat"].append(step_gradient())
        optimizer.step()
        lam.prune()
        history["alive"].append(int(lam.alive.sum()))
        bar.set_postfix(stat=f"{history['stat'][-1]:.4g}", alive=history["alive"][-1])
    with torch.no_grad():
        history["stat"].append(float(ratio(lam.effective())))
    return RealMultipliers(lam.effective().detach().cpu(), lam.alive.cpu(), scale, history)


@dataclass(frozen=True)
class _Fit:
    """What both ways of computing the λ objective share: θ* (flat, and its size), λ and its optimiser."""

    model: nn.Module
    theta: dict[str, torch.Tensor]
    theta_flat: torch.Tensor
    theta_scale: float
    lam: Multipliers
    optimizer: torch.optim.Optimizer
    distance_kind: Distance


Objective = tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[], float]]  # (ratio of λ, one gradient step)


def _matrix_objective(
    fit: _Fit, x: torch.Tensor, y: torch.Tensor, chunk_size: int, device: str | torch.device
) -> Objective:
    """The N x P per-sample gradient matrix, computed once and reused at every step."""
    rows = []
    with torch.no_grad():
        for start in range(0, len(x), chunk_size):
            grads, _ = per_sample_grads(
                fit.model, x[start : start + chunk_size].to(device), y[start : start + chunk_size].to(device), fit.theta
            )
            rows.append(flatten_grads(grads))
    matrix = torch.cat(rows)

    def ratio(values: torch.Tensor) -> torch.Tensor:
        return stationarity_loss(fit.theta_flat, matrix, values, fit.distance_kind) / fit.theta_scale

    def step_gradient() -> float:
        loss = ratio(fit.lam.effective())
        fit.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        return float(loss.detach())

    return ratio, step_gradient


def _implicit_objective(
    fit: _Fit, x: torch.Tensor, y: torch.Tensor, chunk_size: int, device: str | torch.device
) -> Objective:
    """No N x P matrix: one backward per chunk for the residual, one jvp per chunk for the gradient in λ."""
    chunks = [
        (x[i : i + chunk_size].to(device), y[i : i + chunk_size].to(device)) for i in range(0, len(x), chunk_size)
    ]

    def residual(values: torch.Tensor) -> torch.Tensor:
        total = fit.theta_flat.clone()
        for i, (xc, yc) in enumerate(chunks):
            weights = values[i * chunk_size : i * chunk_size + len(yc)].detach()
            total += weighted_loss_grad(fit.model, fit.theta, xc, yc, weights, create_graph=False)[0].detach()
        return total

    def ratio(values: torch.Tensor) -> torch.Tensor:
        return distance(residual(values), fit.distance_kind) / fit.theta_scale

    def step_gradient() -> float:
        r = residual(fit.lam.effective()).requires_grad_(True)
        loss = distance(r, fit.distance_kind) / fit.theta_scale
        (s,) = torch.autograd.grad(loss, r)
        tangent = _unflatten(s, fit.theta)
        directional = []
        for xc, yc in chunks:  # (G s)_i for the chunk: one jvp of the per-sample losses along s
            directional.append(jvp(partial(_sample_losses, fit.model, x=xc, y=yc), (fit.theta,), (tangent,))[1])
        fit.optimizer.zero_grad(set_to_none=True)
        fit.lam.values.grad = torch.cat(directional) * fit.lam.alive
        return float(loss.detach())

    return ratio, step_gradient


def _unflatten(flat: torch.Tensor, like: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out, start = {}, 0
    for name, p in like.items():
        out[name] = flat[start : start + p.numel()].view_as(p)
        start += p.numel()
    return out


def _sample_losses(model: nn.Module, params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    fixed = {name: p.detach() for name, p in model.named_parameters() if name not in params}
    buffers = {name: b.detach() for name, b in model.named_buffers()}
    return F.cross_entropy(functional_call(model, {**fixed, **params, **buffers}, (x,)), y, reduction="none")


def top_lambda_per_class(lam: torch.Tensor, y: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the ``k`` largest λ in every class (sorted by class, then λ descending)."""
    chosen = []
    for c in torch.unique(y):
        members = (y == c).nonzero().squeeze(1)
        order = torch.argsort(lam[members], descending=True, stable=True)
        chosen.append(members[order[:k]])
    return torch.cat(chosen)


def random_per_class(y: torch.Tensor, k: int, seed: int) -> torch.Tensor:
    """``k`` random indices per class (seeded)."""
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for c in torch.unique(y):
        members = (y == c).nonzero().squeeze(1)
        chosen.append(members[torch.randperm(len(members), generator=generator)[:k]])
    return torch.cat(chosen)


@dataclass(frozen=True)
class RealFitJob:
    """One λ fit of fixed real samples (a worker job): the teacher, the samples and ``real_multipliers``' settings."""

    teacher: TeacherState
    x: torch.Tensor
    y: torch.Tensor
    steps: int
    lr: float
    distance: Distance = "l1"
    parameters: ParameterSet = "identifiable"
    chunk_size: int = 256
    method: Literal["matrix", "implicit"] = "matrix"

    @classmethod
    def of(cls, teacher: TeacherState, x: torch.Tensor, y: torch.Tensor, settings: RealFitSettings) -> RealFitJob:
        """The λ fit of the fixed samples ``(x, y)`` under ``teacher`` with ``settings`` (e.g. ``dsv.select``)."""
        return cls(
            teacher,
            x,
            y,
            steps=settings.steps,
            lr=settings.lr,
            distance=settings.distance,
            parameters=settings.parameters,
            chunk_size=settings.chunk_size,
            method=settings.method,
        )


class RealFitSettings(Protocol):
    """The settings of a λ fit (``dsv.select`` has them), read by :meth:`RealFitJob.of`."""

    @property
    def steps(self) -> int: ...
    @property
    def lr(self) -> float: ...
    @property
    def distance(self) -> Distance: ...
    @property
    def parameters(self) -> ParameterSet: ...
    @property
    def chunk_size(self) -> int: ...
    @property
    def method(self) -> Literal["matrix", "implicit"]: ...


def fit_real_job(job: RealFitJob) -> RealFit:
    """One λ fit (a worker job): ``{lam, alive, scale, history}``."""
    result = real_multipliers(
        job.teacher.network().eval(),
        job.x,
        job.y,
        weight_decay=job.teacher.weight_decay,
        steps=job.steps,
        lr=job.lr,
        distance_kind=job.distance,
        parameters=job.parameters,
        chunk_size=job.chunk_size,
        method=job.method,
        progress=False,
    )
    return RealFit(lam=result.lam, alive=result.alive, scale=result.scale, history=result.history)


def chain_subsets(lam: torch.Tensor, y: torch.Tensor, sizes: list[int], seed: int) -> ChainSubsets:
    """The selected subsets of one chain: ``{"top_lambda" | "random": {"<k>": indices}}`` per size k."""
    return {
        "top_lambda": {str(k): top_lambda_per_class(lam, y, k).tolist() for k in sizes},
        "random": {str(k): random_per_class(y, k, seed).tolist() for k in sizes},
    }
