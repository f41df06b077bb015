"""The DeepKKT objective of a trained classifier with frozen parameters θ* (Lee et al., NeurIPS 2024).

A network trained to a stationary point of mean_i L_i + (wd/2)‖θ‖² satisfies
θ* = −Σ_i λ_i ∇_θ L(Φ(x_i; θ*), y_i) with λ_i = 1/(N·wd) ≥ 0 over its N training samples.
Samples satisfying these conditions are the network's Deep Support Vectors. For candidates
x_i with multipliers λ_i:

- stationarity  L_stat = D(θ*, −Σ λ_i ∇_θ L_i) / D(θ*, 0): the paper's distance D (mean |·| over
  the parameters, ``l1``, its text; or mean (·)², ``l2``, its Algorithm 1) divided by the
  constant D(θ*, 0), so that L_stat is the *stationarity ratio* (1 at λ = 0, 0 at a KKT
  point) and ``w_stat`` does not depend on the scale of θ*. Σ λ_i ∇_θ L_i is one backward pass
  of the λ-weighted loss (``revis.kkt.gradients.weighted_loss_grad``), not N per-sample rows;
- primal        L_primal = mean_i [argmax Φ(x_i) ≠ y_i] · CE(Φ(x_i), y_i) (hinge-like: zero once
  a candidate is classified as its label, which also gives complementary slackness);
- dual          λ_i ≥ 0: a candidate whose λ turns negative is pruned (``Multipliers.prune``);
- manifold      total variation and squared-norm priors on the images.

Objective (Algorithm 1 form): L_kkt(X) + η·L_kkt(A(X)) + w_tv·TV(X) + w_norm·‖X‖², with
L_kkt = w_stat·L_stat + w_primal·L_primal and A a differentiable augmentation; η is
``w_aug``. The weights are named by role: how the paper's α/β/γ map onto them is not published.

Stationarity is measured over the *identifiable* parameters by default (see
``revis.kkt.gradients``): convolutions followed by instance norm are scale-invariant, their
gradients are orthogonal to them, and no λ or x can reconstruct them; keeping them in D adds
an irreducible constant that drowns the term (``parameters="all"`` keeps the paper's literal form).

λ starts at 1/(M·wd) for M candidates: the multiplier mass 1/wd that the N training samples
carry at the teacher's KKT point, shared evenly (``initial_multiplier``). For M few candidates
far from the support that start overshoots (digits teachers: stationarity ratio 3.2–4.4 at
the start of a 1-shot synthesis, 23–33 from noise, against 1.0 at λ = 0). The alternative,
``KKTState(start="balanced")``, starts at the uniform λ in [0, 1/(M·wd)] with the lowest ratio
(``balanced_multiplier``; never above 1), but measured on digits (2 seeds, 1 and 5 per class,
60 steps) it ends *worse*: final ratio 0.90 / 0.99 vs 0.76 / 0.83 at 1-shot, and it prunes most
candidates (4/10 and 1/10 survive few-shot, 0/10 from noise, against 10/10, 8/10, 7/10, 6/10):
λ must be large at the end, and from ≈ 0 the first Adam steps push many below zero. The mass
start stays the default; every synthesis records its starting ratio (``stat_start_ratio``).
``start="least_squares"`` (``least_squares_multipliers``: the NNLS λ ≥ 0 of the starting residual) starts
at a ratio ≤ 1 too, but leaves most λ at 0, which the first step prunes; measured on digits (3 seeds) it
retrains worse on every set (README). From noise
the overshoot can prune *every* candidate (digits 0-shot 1/class, seed 1: 0 of 10 left, an empty set);
``revis.kkt.synthesis.synthesize_job`` reruns such a synthesis with a lower λ step and its guard names it
``collapsed`` if it still loses everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from revis.augment import DiffAugment
from revis.kkt.gradients import (
    flatten_grads,
    flatten_params,
    frozen_parameters,
    identifiable_parameters,
    per_sample_grads,
    weighted_loss_grad,
)

Distance = Literal["l1", "l2"]
ParameterSet = Literal["identifiable", "all"]
StartRule = Literal["mass", "balanced", "least_squares"]  # λ's start (KKTState)


@dataclass(frozen=True)
class KKTWeights:
    """Weights of the DeepKKT terms, by role."""

    w_stat: float = 1.0  # stationarity (ratio)
    w_primal: float = 1.0  # primal feasibility (hinge-like CE)
    w_tv: float = 0.0  # total-variation prior
    w_norm: float = 0.0  # squared-norm prior
    w_aug: float = 5.0  # η: weight of the KKT loss on augmented candidates (Algorithm 1)


def distance(residual: torch.Tensor, kind: Distance = "l1") -> torch.Tensor:
    """D(residual, 0): mean |·| (``l1``) or mean (·)² (``l2``) over all entries."""
    if kind == "l1":
        return residual.abs().mean()
    if kind == "l2":
        return residual.pow(2).mean()
    raise ValueError(f"stat distance must be 'l1' or 'l2', got {kind!r}")


def stationarity_loss(
    theta: torch.Tensor, grads: torch.Tensor, lam: torch.Tensor, kind: Distance = "l1"
) -> torch.Tensor:
    """D(θ*, −Σ λ_i g_i) for flat θ* (P,), per-sample gradients (N, P) and multipliers (N,)."""
    return distance(theta + lam @ grads, kind)


def initial_multiplier(candidates: int, weight_decay: float) -> float:
    """1/(M·wd): M candidates share the multiplier mass 1/wd of the training set at a KKT point."""
    if candidates < 1 or weight_decay <= 0:
        raise ValueError(f"need candidates >= 1 and weight_decay > 0, got {candidates}, {weight_decay}")
    return 1.0 / (candidates * weight_decay)


@torch.no_grad()
def balanced_multiplier(
    kkt: DeepKKT, x: torch.Tensor, y: torch.Tensor, upper: float, iterations: int = 60
) -> tuple[float, float]:
    """(c, ratio): the uniform λ_i = c in [0, ``upper``] with the lowest stationarity ratio, and that ratio.

    With G = Σ_i ∇_θ L_i (one backward pass), the ratio D(θ* + c·G)/D(θ*, 0) is convex in c
    (a norm of an affine map): golden-section search on [0, upper]; c = 0 (ratio 1) and
    c = ``upper`` are candidates too, so the result is never worse than either end.
    """
    ones = torch.ones(len(y), device=x.device, dtype=x.dtype)
    grads, _ = weighted_loss_grad(kkt.model, kkt.theta, x, y, ones, create_graph=False)

    def ratio(c: float) -> float:
        return float(_distance(kkt.theta_flat + c * grads, kkt.distance)) / kkt.theta_scale

    low, high = 0.0, float(upper)
    golden = (5**0.5 - 1) / 2
    a, b = high - golden * (high - low), low + golden * (high - low)
    fa, fb = ratio(a), ratio(b)
    for _ in range(iterations):
        if fa <= fb:
            high, b, fb = b, a, fa
            a = high - golden * (high - low)
            fa = ratio(a)
        else:
            low, a, fa = a, b, fb
            b = low + golden * (high - low)
            fb = ratio(b)
    candidates = [(0.0, 1.0), (float(upper), ratio(float(upper))), (a, fa), (b, fb)]
    return min(candidates, key=lambda pair: pair[1])


def least_squares_multipliers(kkt: DeepKKT, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, float]:
    """(λ, ratio): the λ ≥ 0 minimising ‖θ* + Σ_i λ_i ∇_θ L_i‖² (non-negative least squares on the N × P
    per-sample gradients, float64) and the stationarity ratio there in ``kkt.distance``.

    λ = 0 is feasible, so the residual's ℓ2 norm never exceeds ‖θ*‖ (the ``l2`` ratio is ≤ 1); in ``l1``
    it usually is too, not provably. NNLS solutions are sparse: most λ_i start at exactly 0.
    """
    from scipy.optimize import nnls

    grads, _ = per_sample_grads(kkt.model, x.detach(), y, kkt.theta)
    matrix = flatten_grads(grads).detach().double()  # (N, P)
    solution, _ = nnls(matrix.T.cpu().numpy(), -kkt.theta_flat.detach().double().cpu().numpy(), maxiter=50 * len(y))
    lam = torch.as_tensor(solution, dtype=x.dtype, device=x.device)
    residual = kkt.theta_flat + lam @ matrix.to(x.dtype)
    return lam, float(_distance(residual, kkt.distance)) / kkt.theta_scale


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


class Multipliers(nn.Module):
    """λ ≥ 0 by pruning: a candidate whose λ turns negative leaves the combination for good."""

    alive: torch.Tensor  # a buffer: which candidates are still in the combination

    def __init__(self, init: torch.Tensor) -> None:
        super().__init__()
        self.values = nn.Parameter(init.detach().clone())
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
        parameters: ParameterSet = "identifiable",
        example: torch.Tensor | None = None,
        chunk_size: int | None = 256,
    ) -> None:
        """``example``: a few inputs of the model's shape (needed to find the identifiable parameters).

        ``chunk_size``: more candidates than this and the residual is accumulated chunk by chunk
        (``weighted_loss_grad``): memory bounded by the chunk, one extra first-order pass in time.
        """
        if distance not in ("l1", "l2"):
            raise ValueError(f"stat distance must be 'l1' or 'l2', got {distance!r}")
        self.model = model.eval().requires_grad_(False)
        self.weights, self.distance, self.augment = weights, distance, augment
        self.chunk_size = chunk_size
        names = None
        if parameters == "identifiable":
            if example is None:
                raise ValueError("DeepKKT over the identifiable parameters needs `example` inputs")
            names = identifiable_parameters(model, example.to(self.theta_device(model)))
        self.theta = frozen_parameters(model, names)
        self.theta_flat = flatten_params(self.theta)
        self.theta_scale = float(_distance(self.theta_flat, distance))  # D(θ*, 0)

    @staticmethod
    def theta_device(model: nn.Module) -> torch.device:
        return next(model.parameters()).device

    @property
    def measured(self) -> list[str]:
        """Names of the parameters the stationarity condition is measured over."""
        return list(self.theta)

    def residual(self, x: torch.Tensor, y: torch.Tensor, lam: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(θ* + Σ λ_i ∇_θ L_i over the measured parameters, logits): one backward, differentiable in x and λ."""
        grads, logits = weighted_loss_grad(self.model, self.theta, x, y, lam, chunk_size=self.chunk_size)
        return self.theta_flat + grads, logits

    def stationarity_ratio(self, x: torch.Tensor, y: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
        """D(θ*, −Σ λ_i ∇_θ L_i) / D(θ*, 0)."""
        residual, _ = self.residual(x, y, lam)
        return _distance(residual, self.distance) / self.theta_scale

    def kkt_terms(self, x: torch.Tensor, y: torch.Tensor, lam: torch.Tensor) -> dict[str, torch.Tensor]:
        """Stationarity ratio and primal loss (and the logits) of candidates ``x`` with multipliers ``lam``."""
        residual, logits = self.residual(x, y, lam)
        stat = _distance(residual, self.distance) / self.theta_scale
        return {"stat": stat, "primal": primal_loss(logits, y), "logits": logits}

    def objective(
        self, x: torch.Tensor, y: torch.Tensor, lam: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """L_kkt(X) + η·L_kkt(A(X)) + priors; returns the loss and its terms as floats.

        The stationarity ratio is always measured (it is what the synthesis reports); with
        ``w_stat = 0`` (primal-only ablation) it is computed without a graph and adds nothing.
        """
        w = self.weights
        if w.w_stat > 0:
            clean = self.kkt_terms(x, y, lam)
        else:
            logits = self.model(x)
            with torch.no_grad():
                stat = self.stationarity_ratio(x.detach(), y, lam.detach())
            clean = {"stat": stat, "primal": primal_loss(logits, y), "logits": logits}
        total = (
            w.w_stat * clean["stat"] + w.w_primal * clean["primal"] if w.w_stat > 0 else w.w_primal * clean["primal"]
        )
        info = {
            "stat": float(clean["stat"].detach()),
            "primal": float(clean["primal"].detach()),
            "entropy": float(predictive_entropy(clean["logits"].detach()).mean()),
            "accuracy": float((clean["logits"].argmax(1) == y).float().mean()),
        }
        if self.augment and w.w_aug > 0:
            if generator is None:
                raise ValueError("augmented DeepKKT needs a torch.Generator")
            xa = self.augment(x, generator)
            if w.w_stat > 0:
                augmented = self.kkt_terms(xa, y, lam)
                total = total + w.w_aug * (w.w_stat * augmented["stat"] + w.w_primal * augmented["primal"])
                info["stat_aug"] = float(augmented["stat"].detach())
            else:
                total = total + w.w_aug * w.w_primal * primal_loss(self.model(xa), y)
        if w.w_tv:
            total = total + w.w_tv * tv_prior(x)
        if w.w_norm:
            total = total + w.w_norm * norm_prior(x)
        info["total"] = float(total.detach())
        return total, info


_distance = distance  # the module-level function, reachable where a parameter is named ``distance``


class KKTState:
    """Multipliers of a fixed set of candidates and their optimiser: the DeepKKT term of a synthesis.

    λ starts at ``initial_multiplier(M, weight_decay)`` (``start="mass"``; ``weight_decay``: the
    teacher's) or at ``balanced_multiplier`` on [0, that value] (``start="balanced"``: never above
    the ratio of λ = 0, but see the module docstring); ``start_ratio`` records the starting ratio.
    ``loss(x)`` evaluates the objective on the candidates still alive; ``step()`` updates λ
    (Adam, learning rate relative to the starting value) and prunes negative ones. Used alone
    (DSV synthesis) or added to another loss (DM + DeepKKT).
    """

    def __init__(
        self,
        kkt: DeepKKT,
        x_init: torch.Tensor,
        y: torch.Tensor,
        lr_lambda: float,
        weight_decay: float,
        start: StartRule = "mass",
    ) -> None:
        self.kkt, self.y = kkt, y
        self.scale = initial_multiplier(len(y), weight_decay)  # the mass scale: λ's learning rate is relative to it
        if start == "least_squares":
            init, self.start_ratio = least_squares_multipliers(kkt, x_init.detach(), y)
            self.start = float(init.mean())
        else:
            if start == "balanced":
                self.start, self.start_ratio = balanced_multiplier(kkt, x_init.detach(), y, self.scale)
            else:
                full = torch.full((len(y),), self.scale, device=x_init.device, dtype=x_init.dtype)
                self.start = self.scale
                self.start_ratio = float(kkt.stationarity_ratio(x_init.detach(), y, full).detach())
            init = torch.full((len(y),), self.start, device=x_init.device, dtype=x_init.dtype)
        self.lam = Multipliers(init)
        self.optimizer = torch.optim.Adam([self.lam.values], lr=lr_lambda * self.scale)
        self.pruned = 0

    @property
    def alive(self) -> torch.Tensor:
        return self.lam.alive

    def loss(self, x: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        index = self.lam.alive.nonzero().squeeze(1)
        if len(index) == 0:
            nan = float("nan")
            return x.sum() * 0.0, {"stat": nan, "primal": 0.0, "entropy": nan, "accuracy": nan, "total": 0.0}
        return self.kkt.objective(x[index], self.y[index], self.lam.effective()[index], generator)

    def step(self) -> int:
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        pruned = self.lam.prune()
        self.pruned += pruned
        return pruned
