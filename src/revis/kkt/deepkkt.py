"""The DeepKKT objective of a trained classifier with frozen parameters θ* (Lee et al., NeurIPS 2024).

A trained network behaves like an SVM: at a stationary point of (loss + weight decay),
θ* = −Σ_i λ_i ∇_θ L(Φ(x_i; θ*), y_i) with λ_i ≥ 0. Samples satisfying these conditions are the
network's Deep Support Vectors. For candidates x_i with multipliers λ_i:

- stationarity  L_stat = D(θ*, −Σ λ_i ∇_θ L_i), D = mean |·| over all parameters (``l1``, the
  paper's text) or mean (·)² (``l2``, its Algorithm 1 writes a squared ℓ2);
- primal        L_primal = mean_i [argmax Φ(x_i) ≠ y_i] · CE(Φ(x_i), y_i) (hinge-like: zero once
  a candidate is classified as its label, which also gives complementary slackness);
- dual          λ_i ≥ 0: a candidate whose λ turns negative is pruned (``Multipliers.prune``);
- manifold      total variation and squared-norm priors on the images.

Objective (Algorithm 1 form): L_kkt(X) + η·L_kkt(A(X)) + w_tv·TV(X) + w_norm·‖X‖², with
L_kkt = w_stat·L_stat + w_primal·L_primal and A a differentiable augmentation; η is
``w_aug``. The weights are named by role: how the paper's α/β/γ map onto them is not
published.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from revis.augment import DiffAugment
from revis.kkt.gradients import flatten_grads, flatten_params, frozen_parameters, per_sample_grads

Distance = Literal["l1", "l2"]


@dataclass(frozen=True)
class KKTWeights:
    """Weights of the DeepKKT terms, by role."""

    w_stat: float = 1.0  # stationarity
    w_primal: float = 1.0  # primal feasibility (hinge-like CE)
    w_tv: float = 0.0  # total-variation prior
    w_norm: float = 0.0  # squared-norm prior
    w_aug: float = 5.0  # η: weight of the KKT loss on augmented candidates (Algorithm 1)


def stationarity_loss(
    theta: torch.Tensor, grads: torch.Tensor, lam: torch.Tensor, distance: Distance = "l1"
) -> torch.Tensor:
    """D(θ*, −Σ λ_i g_i) for flat θ* (P,), per-sample gradients (N, P) and multipliers (N,)."""
    residual = theta + lam @ grads  # θ* − (−Σ λ_i g_i)
    if distance == "l1":
        return residual.abs().mean()
    if distance == "l2":
        return residual.pow(2).mean()
    raise ValueError(f"stat distance must be 'l1' or 'l2', got {distance!r}")


def primal_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean over candidates of CE where the candidate is misclassified, 0 where it is already right."""
    wrong = (logits.argmax(1) != y).to(logits.dtype)
    return (F.cross_entropy(logits, y, reduction="none") * wrong).mean()


def tv_prior(x: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation, mean absolute difference of neighbouring pixels."""
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


def norm_prior(x: torch.Tensor) -> torch.Tensor:
    """Squared ℓ2 norm per image, averaged over pixels and images (scale-free across image sizes)."""
    return x.pow(2).mean()


def predictive_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of softmax(logits) per row; high near the decision boundary."""
    log_p = F.log_softmax(logits, dim=1)
    return -(log_p.exp() * log_p).sum(1)


def fit_scale(theta: torch.Tensor, grads: torch.Tensor, distance: Distance = "l1") -> float:
    """A common starting λ = c > 0 for all candidates: the best c for θ* ≈ −c Σ_i g_i under ``distance``.

    The least-squares c is exact for ``l2``; for ``l1`` it brackets a grid search on [0, 2c].
    When no positive c improves on λ = 0, a small fraction of the least-squares c is returned,
    so the candidates start almost out of the combination and the optimiser decides.
    """
    total = grads.sum(0)
    denominator = float(total.pow(2).sum())
    if denominator == 0.0:
        return 1.0
    c_ls = -float(theta @ total) / denominator
    if c_ls <= 0:  # Σ g points along θ*: no common positive scale helps
        return 1e-3 * abs(c_ls)
    grid = torch.linspace(0.0, 2.0 * c_ls, 81, dtype=theta.dtype, device=theta.device)
    losses = torch.stack([stationarity_loss(theta, total[None], c.reshape(1), distance) for c in grid])
    best = float(grid[int(torch.argmin(losses))])
    return best if best > 0 else 0.05 * c_ls


class Multipliers(nn.Module):
    """λ ≥ 0 by pruning: a candidate whose λ turns negative leaves the combination for good."""

    def __init__(self, init: torch.Tensor) -> None:
        super().__init__()
        self.values = nn.Parameter(init.detach().clone().float())
        self.register_buffer("alive", torch.ones(len(init), dtype=torch.bool, device=init.device))

    def effective(self) -> torch.Tensor:
        return self.values * self.alive

    @torch.no_grad()
    def prune(self) -> int:
        """Remove alive candidates with λ < 0; returns how many were removed."""
        dead = self.alive & (self.values < 0)
        self.alive &= ~dead
        self.values[dead] = 0.0
        return int(dead.sum())


class DeepKKT:
    """The DeepKKT objective of one frozen classifier (any ``nn.Module`` mapping images to logits)."""

    def __init__(
        self,
        model: nn.Module,
        weights: KKTWeights = KKTWeights(),
        distance: Distance = "l1",
        augment: DiffAugment | None = None,
        chunk_size: int | None = None,
    ) -> None:
        if distance not in ("l1", "l2"):
            raise ValueError(f"stat distance must be 'l1' or 'l2', got {distance!r}")
        self.model = model.eval().requires_grad_(False)
        self.weights, self.distance, self.augment, self.chunk_size = weights, distance, augment, chunk_size
        self.theta = frozen_parameters(model)
        self.theta_flat = flatten_params(self.theta)

    def flat_grads(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, P) per-sample gradients and logits, one vectorised pass."""
        grads, logits = per_sample_grads(self.model, x, y, self.theta, self.chunk_size)
        return flatten_grads(grads), logits

    def kkt_terms(self, x: torch.Tensor, y: torch.Tensor, lam: torch.Tensor) -> dict[str, torch.Tensor]:
        """Stationarity and primal losses (and the logits) of candidates ``x`` with multipliers ``lam``."""
        if self.weights.w_stat == 0:  # primal-only: no per-sample gradients needed
            logits = self.model(x)
            return {"stat": logits.new_zeros(()), "primal": primal_loss(logits, y), "logits": logits}
        grads, logits = self.flat_grads(x, y)
        stat = stationarity_loss(self.theta_flat, grads, lam, self.distance)
        return {"stat": stat, "primal": primal_loss(logits, y), "logits": logits}

    def objective(
        self, x: torch.Tensor, y: torch.Tensor, lam: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """L_kkt(X) + η·L_kkt(A(X)) + priors; returns the loss and its terms as floats."""
        w = self.weights
        clean = self.kkt_terms(x, y, lam)
        total = w.w_stat * clean["stat"] + w.w_primal * clean["primal"]
        info = {
            "stat": float(clean["stat"].detach()),
            "primal": float(clean["primal"].detach()),
            "entropy": float(predictive_entropy(clean["logits"].detach()).mean()),
            "accuracy": float((clean["logits"].argmax(1) == y).float().mean()),
        }
        if self.augment and w.w_aug > 0:
            if generator is None:
                raise ValueError("augmented DeepKKT needs a torch.Generator")
            augmented = self.kkt_terms(self.augment(x, generator), y, lam)
            total = total + w.w_aug * (w.w_stat * augmented["stat"] + w.w_primal * augmented["primal"])
            info["stat_aug"] = float(augmented["stat"].detach())
        if w.w_tv:
            total = total + w.w_tv * tv_prior(x)
        if w.w_norm:
            total = total + w.w_norm * norm_prior(x)
        info["total"] = float(total.detach())
        return total, info


class KKTState:
    """Multipliers of a fixed set of candidates and their optimiser: the DeepKKT term of a synthesis.

    ``loss(x)`` evaluates the objective on the candidates still alive; ``step()`` updates λ
    (Adam, learning rate relative to the fitted starting scale) and prunes negative ones.
    Used alone (DSV synthesis) or added to another loss (DM + DeepKKT).
    """

    def __init__(self, kkt: DeepKKT, x_init: torch.Tensor, y: torch.Tensor, lr_lambda: float) -> None:
        self.kkt, self.y = kkt, y
        with torch.no_grad():
            grads, _ = kkt.flat_grads(x_init, y)
            self.scale = fit_scale(kkt.theta_flat, grads, kkt.distance)
        self.lam = Multipliers(torch.full((len(y),), self.scale, device=x_init.device))
        self.optimizer = torch.optim.Adam([self.lam.values], lr=lr_lambda * self.scale)
        self.pruned = 0

    @property
    def alive(self) -> torch.Tensor:
        return self.lam.alive

    def loss(self, x: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        index = self.lam.alive.nonzero().squeeze(1)
        if len(index) == 0:
            return x.sum() * 0.0, {
                "stat": 0.0,
                "primal": 0.0,
                "entropy": float("nan"),
                "accuracy": float("nan"),
                "total": 0.0,
            }
        return self.kkt.objective(x[index], self.y[index], self.lam.effective()[index], generator)

    def step(self) -> int:
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        pruned = self.lam.prune()
        self.pruned += pruned
        return pruned
