"""The teacher θ*: a classifier trained towards a KKT point of its weight-decayed training loss.

DeepKKT's stationarity condition θ* = −Σ_i λ_i ∇_θ L_i (λ_i = 1/(N·wd)) holds only at a
stationary point of mean_i L_i + (wd/2)‖θ‖². SGD with a decaying learning rate ends near one
but not at it; ``polish_to_stationarity`` finishes the job on the identifiable parameters
(``revis.kkt.gradients``: the others have no stationary point) with full-batch L-BFGS on the
same objective, the rest of the network frozen (for the DC ConvNet the frozen prefix's
activations are computed once). ``stationarity_report`` measures how close the teacher is:
the ratio D(θ*, −Σ λ_i g_i)/D(θ*, 0) at the derivation's λ_i = 1/(N·wd), and the cosine
between θ* and −Σ g_i, over the identifiable parameters and over all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

import torch
import torch.nn.functional as F
from torch import nn

from revis.kkt.deepkkt import Distance, distance
from revis.kkt.gradients import flatten_params, frozen_parameters, identifiable_parameters, weighted_loss_grad
from revis.models import ModelConfig, build_model

if TYPE_CHECKING:
    from revis.distill.chain import Chain
    from revis.training import TrainConfig


def _frozen_prefix(model: nn.Module, names: set[str]) -> tuple[Callable, Callable]:
    """(prefix, suffix) with model = suffix ∘ prefix and no identifiable parameter in the prefix."""
    features, classifier = getattr(model, "features", None), getattr(model, "classifier", None)
    if isinstance(features, nn.Sequential) and isinstance(classifier, nn.Module):
        owners = [
            i
            for i, (child, _) in enumerate(features.named_children())
            if any(f"features.{child}." in name for name in names)
        ]
        k = min(owners) if owners else len(features)
        return features[:k], lambda z: classifier(features[k:](z).flatten(1))
    return nn.Identity(), model


def polish_to_stationarity(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    weight_decay: float,
    *,
    iterations: int = 200,
    chunk: int = 2048,
    dtype: torch.dtype = torch.float64,
) -> dict[str, float]:
    """Full-batch L-BFGS on mean L + (wd/2)‖θ_I‖² over the identifiable parameters θ_I (others frozen).

    Runs in ``dtype`` (default float64) and returns the model to its own dtype: in float32 the
    objective stops changing before the stationarity ratio, which is ‖∇‖/(wd·‖θ‖), is small
    (shapes, wd 0.002: stuck at 0.0126 in float32, 0.0030 in float64 from the same start).
    Returns the objective before and after. The model ends in eval mode, parameters frozen.
    """
    own = next(model.parameters()).dtype
    model.to(dtype).eval()
    x = x.to(dtype)
    names = set(identifiable_parameters(model, x[:4]))
    params = [p for name, p in model.named_parameters() if name in names]
    for name, p in model.named_parameters():
        p.requires_grad_(name in names)
    prefix, suffix = _frozen_prefix(model, names)
    with torch.no_grad():
        z = torch.cat([prefix(x[i : i + chunk]) for i in range(0, len(x), chunk)])

    def objective() -> torch.Tensor:
        return F.cross_entropy(suffix(z), y) + 0.5 * weight_decay * sum(p.pow(2).sum() for p in params)

    optimizer = torch.optim.LBFGS(
        params,
        lr=1.0,
        max_iter=iterations,
        history_size=50,
        line_search_fn="strong_wolfe",
        tolerance_grad=1e-10,
        tolerance_change=1e-14,
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = objective()
        loss.backward()
        return loss

    with torch.no_grad():
        before = float(objective())
    optimizer.step(closure)
    with torch.no_grad():
        after = float(objective())
    model.to(own).requires_grad_(False)
    return {"objective_before": before, "objective_after": after}


def stationarity_report(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, weight_decay: float, kind: Distance = "l1", chunk: int = 2048
) -> dict[str, float]:
    """How far θ* is from θ* = −Σ λ_i g_i at λ_i = 1/(N·wd): ratios and cosines, identifiable and all parameters."""
    model.eval()
    report: dict[str, float] = {}
    for label, names in (("identifiable", identifiable_parameters(model, x[:4])), ("all", None)):
        theta = frozen_parameters(model, names)
        flat = flatten_params(theta)
        total = torch.zeros_like(flat)
        for start in range(0, len(x), chunk):  # Σ_i g_i, one backward per chunk
            xs, ys = x[start : start + chunk], y[start : start + chunk]
            g, _ = weighted_loss_grad(model, theta, xs, ys, torch.ones(len(xs)), create_graph=False)
            total += g.detach()
        residual = flat + total / (len(x) * weight_decay)
        report[f"ratio_{label}"] = float(distance(residual, kind) / distance(flat, kind))
        report[f"cosine_{label}"] = float(F.cosine_similarity(flat, -total, dim=0))
        report[f"parameters_{label}"] = int(flat.numel())
    return report


@dataclass(frozen=True)
class TeacherState:
    """θ* of one chain as worker jobs receive it: the model config, (C, K, S), the state dict, the weight decay."""

    model: ModelConfig | dict[str, Any]
    shape: tuple[int, ...] | list[int]
    state_dict: dict[str, torch.Tensor]
    weight_decay: float

    @classmethod
    def of(cls, checkpoint: TeacherBundle, chain: Chain) -> TeacherState:
        """θ* of ``chain`` from a teacher checkpoint (``{"model", "runs": {"<dataset>/<seed>": run}}``)."""
        runs = checkpoint["runs"]
        if str(chain) not in runs:
            raise KeyError(
                f"the teacher checkpoint holds no network for dataset {chain.dataset!r}, seed {chain.seed} "
                f"(has {sorted(runs)}); train it in dsv (dsv.seeds)"
            )
        run = runs[str(chain)]
        return cls(checkpoint["model"], run["shape"], run["state_dict"], run["weight_decay"])

    def network(self) -> nn.Module:
        """The network with θ* loaded (train mode, as built)."""
        net = build_model(self.model, *self.shape)
        net.load_state_dict(self.state_dict)
        return net


def teacher_network(checkpoint: TeacherBundle, chain: Chain) -> nn.Module:
    """θ* of ``chain`` (dataset and chain seed) from a teacher checkpoint (frozen, eval mode)."""
    state = TeacherState.of(checkpoint, chain)
    model = ModelConfig.model_validate(state.model) if isinstance(state.model, dict) else state.model
    net = build_model(model, *state.shape)
    net.load_state_dict(state.state_dict)
    return net.eval().requires_grad_(False)


class TeacherRun(TypedDict):
    """One trained teacher as ``dsv.teachers`` persists it (:func:`fit_teacher`'s result)."""

    state_dict: dict[str, torch.Tensor]
    shape: list[int]  # (C, K, S)
    weight_decay: float
    history: dict[str, list[float]]
    stationarity_sgd: dict[str, Any]  # stationarity_report after SGD
    stationarity: dict[str, Any]  # ... after the L-BFGS polish
    polish: dict[str, Any]


class TeacherBundle(TypedDict):
    """``dsv.teachers``: the model they share and one run per chain (``str(Chain)`` -> run)."""

    model: dict[str, Any]  # ModelConfig as a dict
    runs: dict[str, TeacherRun]


@dataclass(frozen=True)
class TeacherJob:
    """One teacher to train (a worker job): the standardized training split, (C, K, S), the recipe, the seed."""

    x: torch.Tensor
    y: torch.Tensor
    shape: tuple[int, int, int]
    model: ModelConfig
    train: TrainConfig
    polish_iterations: int
    seed: int
    device: str = "cpu"


def fit_teacher(job: TeacherJob) -> TeacherRun:
    """Train one teacher (a worker job): SGD with weight decay, L-BFGS polish, stationarity before and after."""
    from revis.training import train_classifier

    torch.manual_seed(job.seed)
    net = build_model(job.model, *job.shape)
    x, y, device = job.x, job.y, job.device
    history = train_classifier(net, x, y, job.train, job.seed, device=device, progress=False)
    net = net.cpu().eval()
    wd = job.train.weight_decay
    before = stationarity_report(net, x, y, wd)
    polish = polish_to_stationarity(net, x, y, wd, iterations=job.polish_iterations) if job.polish_iterations else {}
    after = stationarity_report(net, x, y, wd)
    return {
        "state_dict": net.state_dict(),
        "shape": list(job.shape),
        "weight_decay": wd,
        "history": history.to_dict(),
        "stationarity_sgd": before,
        "stationarity": after,
        "polish": polish,
    }
