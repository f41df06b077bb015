"""Per-sample parameter gradients of a classifier, in one vectorised pass (torch.func).

DeepKKT's stationarity condition needs ∇_θ L(Φ(x_i; θ*), y_i) for every candidate i
separately. ``vmap(grad(loss))`` over ``functional_call`` computes all of them in one batched
pass instead of one backward per sample; the result stays differentiable in the inputs, so
the stationarity loss can be back-propagated into synthetic images (double backward).
``per_sample_grads_loop`` is the plain reference (one backward per sample) used by the tests
and by ``python -m revis.kkt.benchmark``.

Per-sample gradients are exact only when samples do not interact inside the network:
the model must be in eval mode (batch norm uses running statistics; instance norm and
group norm are per sample anyway).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

Grads = dict[str, torch.Tensor]  # parameter name -> (N, *parameter shape)


def frozen_parameters(model: nn.Module) -> dict[str, torch.Tensor]:
    """θ* as detached tensors (name -> tensor), in ``named_parameters`` order."""
    return {name: p.detach() for name, p in model.named_parameters()}


def per_sample_grads(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    params: dict[str, torch.Tensor] | None = None,
    chunk_size: int | None = None,
) -> tuple[Grads, torch.Tensor]:
    """(∇_θ CE(Φ(x_i), y_i) for every i, logits) in one vmapped pass; differentiable in ``x``."""
    if model.training:
        raise ValueError("per-sample gradients need the model in eval mode (samples must not interact)")
    params = frozen_parameters(model) if params is None else params
    buffers = {name: b.detach() for name, b in model.named_buffers()}

    def sample_loss(
        p: dict[str, torch.Tensor], xi: torch.Tensor, yi: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        logits = functional_call(model, {**p, **buffers}, (xi.unsqueeze(0),))
        return F.cross_entropy(logits, yi.unsqueeze(0)), logits.squeeze(0)

    grads, logits = vmap(grad(sample_loss, has_aux=True), in_dims=(None, 0, 0), chunk_size=chunk_size)(params, x, y)
    return grads, logits


def per_sample_grads_loop(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Grads:
    """The reference: one forward/backward per sample (slow; for tests and the benchmark)."""
    if model.training:
        raise ValueError("per-sample gradients need the model in eval mode (samples must not interact)")
    names = [name for name, _ in model.named_parameters()]
    rows: dict[str, list[torch.Tensor]] = {name: [] for name in names}
    for i in range(len(x)):
        loss = F.cross_entropy(model(x[i : i + 1]), y[i : i + 1])
        for name, g in zip(names, torch.autograd.grad(loss, list(model.parameters()))):
            rows[name].append(g)
    return {name: torch.stack(rows[name]) for name in names}


def flatten_grads(grads: Grads) -> torch.Tensor:
    """(N, P): every sample's gradient as one row, parameters concatenated in name order."""
    return torch.cat([g.flatten(1) for g in grads.values()], dim=1)


def flatten_params(params: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([p.flatten() for p in params.values()])
