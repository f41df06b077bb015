"""DeepKKT use (a): multipliers λ for the real training samples, with the images fixed.

With x fixed the per-sample gradients G (N x P) are constants, computed once in vectorised
chunks; only λ is optimised: minimise D(θ*, −λᵀG) with λ ≥ 0 by pruning. The result ranks
the training set: the samples with the largest λ carry the most of θ* (the model's support
vectors), and Σλ per class says how much of θ* each class accounts for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from revis.kkt.deepkkt import Distance, Multipliers, fit_scale, stationarity_loss
from revis.kkt.gradients import flatten_grads, flatten_params, frozen_parameters, per_sample_grads


@dataclass
class RealMultipliers:
    lam: torch.Tensor  # (N,) λ ≥ 0 (pruned samples hold 0)
    alive: torch.Tensor  # (N,) bool
    scale: float  # the least-squares starting value of every λ
    history: dict[str, list[float]] = field(default_factory=dict)  # stat loss and alive count per step


def real_multipliers(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    steps: int,
    lr: float,
    distance: Distance = "l1",
    chunk_size: int = 256,
    device: str | torch.device = "cpu",
    progress: bool = True,
    desc: str = "lambda",
) -> RealMultipliers:
    """Fit λ for fixed real samples (Adam, learning rate relative to the starting scale; pruning)."""
    model = model.to(device).eval().requires_grad_(False)
    theta = frozen_parameters(model)
    theta_flat = flatten_params(theta)
    rows = []
    with torch.no_grad():
        for start in range(0, len(x), chunk_size):
            grads, _ = per_sample_grads(
                model, x[start : start + chunk_size].to(device), y[start : start + chunk_size].to(device), theta
            )
            rows.append(flatten_grads(grads))
    grads = torch.cat(rows)
    scale = fit_scale(theta_flat, grads, distance)
    lam = Multipliers(torch.full((len(x),), scale, device=device))
    optimizer = torch.optim.Adam([lam.values], lr=lr * scale)
    history: dict[str, list[float]] = {"stat": [], "alive": []}
    bar = tqdm(range(steps), desc=desc, disable=not progress, leave=False)
    for _ in bar:
        loss = stationarity_loss(theta_flat, grads, lam.effective(), distance)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        lam.prune()
        history["stat"].append(float(loss.detach()))
        history["alive"].append(int(lam.alive.sum()))
        bar.set_postfix(stat=f"{history['stat'][-1]:.4g}", alive=history["alive"][-1])
    with torch.no_grad():
        history["stat"].append(float(stationarity_loss(theta_flat, grads, lam.effective(), distance)))
        history["stat_at_zero"] = [float(stationarity_loss(theta_flat, grads, torch.zeros_like(lam.values), distance))]
    return RealMultipliers(lam.effective().detach().cpu(), lam.alive.cpu(), scale, history)


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
