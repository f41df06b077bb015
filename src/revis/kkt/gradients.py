"""Parameter gradients for the DeepKKT stationarity condition: the weighted sum in one backward pass,
per-sample rows (torch.func) only where a matrix of them is really needed.

Stationarity compares θ* with −Σ_i λ_i ∇_θ L_i. The sum never needs the per-sample rows:
Σ_i λ_i ∇_θ L_i = ∇_θ (Σ_i λ_i L_i), one backward pass of the λ-weighted loss, with
``create_graph=True`` so that the residual stays differentiable in the candidates x and in λ
(``weighted_loss_grad``). What this saves is the N × P matrix of per-sample gradients and its
traffic, not arithmetic (``vmap`` does the same multiply-adds). Time: one objective evaluation
is a forward, a backward with a graph and a second-order backward, so it cannot fall to the
*floor* of one first-order forward-backward (README: ×4–5 below it at CIFAR scale); it runs at
×0.95–1.4 of vmap and of the per-sample loop. Memory: the double backward keeps the forward's
activations, O(N). With ``chunk_size`` (``DeepKKT`` default 256 candidates) larger sets are
accumulated chunk by chunk (``_ChunkedWeightedGrad``): the residual from first-order chunks
without a graph, then per chunk a second-order backward of ⟨∂ℓ/∂r, g_chunk⟩; peak memory is
that of one chunk whatever N, and time is the one-pass time plus one first-order pass
(``python -m revis.kkt.benchmark`` prints both). Per-sample gradients
(``per_sample_grads``, ``vmap(grad(...))``) remain for fitting λ to *fixed* real samples,
where the N × P matrix is computed once and reused at every step.

Both need samples that do not interact inside the network: the model must be in eval mode
(batch norm with running statistics; instance and group norm are per sample anyway).

**Identifiable parameters.** A convolution followed by instance (or group / layer) norm is
scale-invariant: its output does not change when its weight and bias are scaled together, and
its bias is removed by the norm's mean. The loss gradient of such a block is therefore
orthogonal to the block (and zero for its bias), so θ_B = −Σ λ_i g_{B,i} has no solution
(‖θ_B + Σ λ_i g_{B,i}‖ ≥ ‖θ_B‖ for every x and λ), and a weight-decayed network has no
stationary point in those coordinates. The same holds for an instance norm's affine parameters
when the next convolution is normalized again. In the DC ConvNet only the last block's norm
and the classifier escape (the last layer, where "a network is an SVM" is literally true:
W = −Σ λ_i (p_i − e_{y_i}) h_iᵀ). ``identifiable_parameters`` finds them numerically (a
forward-mode derivative along each layer's own parameters): the parameters in which the
DeepKKT stationarity condition can hold.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

Grads = dict[str, torch.Tensor]  # parameter name -> (N, *parameter shape)


def frozen_parameters(model: nn.Module, names: list[str] | None = None) -> dict[str, torch.Tensor]:
    """θ* as detached tensors (name -> tensor), in ``named_parameters`` order (optionally only ``names``)."""
    params = {name: p.detach() for name, p in model.named_parameters()}
    return params if names is None else {name: params[name] for name in names}


def _parameter_groups(model: nn.Module) -> dict[str, list[str]]:
    """Module name -> the names of the parameters it holds directly (weight and bias scale together)."""
    groups: dict[str, list[str]] = {}
    for prefix, module in model.named_modules():
        names = [f"{prefix}.{n}" if prefix else n for n, _ in module.named_parameters(recurse=False)]
        if names:
            groups[prefix] = names
    return groups


@torch.no_grad()
def scale_invariant_parameters(model: nn.Module, example: torch.Tensor, tolerance: float = 1e-3) -> list[str]:
    """Parameters of the layers whose joint rescaling leaves the logits unchanged on ``example`` inputs.

    For each module's own parameters B, the directional derivative of the logits along θ_B
    (a forward-mode jvp, d/dα Φ(x; θ_B ← αθ_B) at α = 1) is compared with the logits; a layer
    is scale-invariant when it vanishes (up to ``tolerance``, relative): a convolution feeding
    instance norm, and also an instance norm's affine parameters when the next layer is
    normalized again (ReLU and pooling are positively homogeneous, a conv bias is removed by
    the norm's mean). Batch norm in eval mode breaks the invariance and is handled correctly.
    """
    if model.training:
        raise ValueError("scale invariance is checked in eval mode")
    params = {name: p.detach() for name, p in model.named_parameters()}
    buffers = {name: b.detach() for name, b in model.named_buffers()}
    example = example.detach()

    def logits(p: dict[str, torch.Tensor]) -> torch.Tensor:
        return functional_call(model, {**p, **buffers}, (example,))

    invariant: list[str] = []
    with _norm_eps(model, _STRUCTURAL_EPS):
        scale = float(logits(params).abs().mean()) + 1e-12
        for names in _parameter_groups(model).values():
            tangent = {name: (p if name in names else torch.zeros_like(p)) for name, p in params.items()}
            change = torch.func.jvp(logits, (params,), (tangent,))[1]
            if float(change.abs().mean()) <= tolerance * scale:
                invariant += names
    return invariant


# Norm layers' ε during the invariance check. With the layer's own ε (1e-5) a channel whose variance
# over a few pixels is small (0.002 on a 4 x 4 map of a 30-epoch shapes teacher) makes the block
# 0.2 % non-invariant, above the tolerance: the block then counts as identifiable and L-BFGS stalls
# trying to satisfy stationarity where the gradient is orthogonal to θ (ratio 0.6-3 instead of 0.002).
# The invariance is structural, ε a numerical guard: check it with ε ≈ 0 (kept > 0 for dead channels).
_STRUCTURAL_EPS = 1e-12
_PER_SAMPLE_NORMS = (nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)


@contextmanager
def _norm_eps(model: nn.Module, eps: float) -> Iterator[None]:
    """Temporarily set ε of the per-sample norm layers (batch norm in eval mode keeps its own)."""
    norms = [m for m in model.modules() if isinstance(m, _PER_SAMPLE_NORMS)]
    saved = [m.eps for m in norms]
    try:
        for m in norms:
            m.eps = eps
        yield
    finally:
        for m, old in zip(norms, saved):
            m.eps = old


def identifiable_parameters(model: nn.Module, example: torch.Tensor) -> list[str]:
    """Names of the parameters in which θ* = −Σ λ_i ∇_θ L_i can hold (all but the scale-invariant ones)."""
    invariant = set(scale_invariant_parameters(model, example))
    return [name for name, _ in model.named_parameters() if name not in invariant]


def _weighted_loss_grad(
    model: nn.Module,
    params: dict[str, torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    weights: torch.Tensor,
    create_graph: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """∇_θ Σ_i w_i CE(Φ(x_i), y_i) over ``params`` (flat) and the logits: one forward, one backward."""
    leaves = {name: p.detach().requires_grad_(True) for name, p in params.items()}
    fixed = {name: p.detach() for name, p in model.named_parameters() if name not in leaves}
    buffers = {name: b.detach() for name, b in model.named_buffers()}
    with torch.enable_grad():
        logits = functional_call(model, {**fixed, **leaves, **buffers}, (x,))
        loss = (weights * F.cross_entropy(logits, y, reduction="none")).sum()
        grads = torch.autograd.grad(loss, list(leaves.values()), create_graph=create_graph)
    return torch.cat([g.flatten() for g in grads]), logits


class _ChunkedWeightedGrad(torch.autograd.Function):
    """(Σ_i w_i ∇_θ L_i, logits) with memory bounded by a chunk of candidates, differentiable once in x and w.

    Forward: the sum over chunks of first-order gradients, no graph kept. Backward, given
    ∂ℓ/∂g = s (P,) and ∂ℓ/∂logits = t (N, K): per chunk c, recompute g_c and the logits with a
    graph and take ∂/∂(x_c, w_c) of ⟨s, g_c⟩ + ⟨t_c, logits_c⟩ (a second-order backward of the
    chunk only). Cost: the one-pass path plus one first-order forward-backward of the candidates.
    """

    @staticmethod
    def forward(ctx, x, weights, model, params, y, chunk_size):  # type: ignore[override]
        sums, logits = [], []
        for start in range(0, len(x), chunk_size):
            part = slice(start, start + chunk_size)
            g, out = _weighted_loss_grad(model, params, x[part].detach(), y[part], weights[part].detach(), False)
            sums.append(g)
            logits.append(out.detach())
        ctx.save_for_backward(x, weights, y)
        ctx.model, ctx.params, ctx.chunk_size = model, params, chunk_size
        return torch.stack(sums).sum(0), torch.cat(logits)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_sum, grad_logits):  # type: ignore[override]
        x, weights, y = ctx.saved_tensors
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        gx = torch.zeros_like(x) if need_x else None
        gw = torch.zeros_like(weights) if need_w else None
        for start in range(0, len(x), ctx.chunk_size):
            part = slice(start, start + ctx.chunk_size)
            with torch.enable_grad():
                xc = x[part].detach().requires_grad_(need_x)
                wc = weights[part].detach().requires_grad_(need_w)
                g, logits = _weighted_loss_grad(ctx.model, ctx.params, xc, y[part], wc, True)
                target = (g * grad_sum).sum() if grad_sum is not None else g.sum() * 0.0
                if grad_logits is not None:
                    target = target + (logits * grad_logits[part]).sum()
                inputs = [t for t, need in ((xc, need_x), (wc, need_w)) if need]
                grads = iter(torch.autograd.grad(target, inputs, allow_unused=True))
            if need_x:
                gx[part] = next(grads)  # type: ignore[index]
            if need_w:
                gw[part] = next(grads)  # type: ignore[index]
        return gx, gw, None, None, None, None


def weighted_loss_grad(
    model: nn.Module,
    params: dict[str, torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    weights: torch.Tensor,
    *,
    create_graph: bool = True,
    chunk_size: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(∇_θ Σ_i w_i CE(Φ(x_i), y_i) flattened over ``params``, logits), in one backward pass.

    ``params`` (name -> θ*) are the coordinates differentiated; every other parameter and
    buffer of ``model`` is held fixed. With ``create_graph`` the result is differentiable in
    ``x`` and ``weights`` (double backward), which is what the stationarity loss needs.
    ``chunk_size``: when there are more candidates than that, the sum is accumulated chunk by
    chunk and its graph is never built whole (``_ChunkedWeightedGrad``): memory bounded by the
    chunk, the result differentiable once (not twice) in ``x`` and ``weights``, at the cost of
    one extra first-order forward-backward of the candidates.
    """
    if model.training:
        raise ValueError("the stationarity gradient needs the model in eval mode (samples must not interact)")
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if create_graph and chunk_size is not None and len(x) > chunk_size:
        return _ChunkedWeightedGrad.apply(x, weights, model, params, y, chunk_size)
    if not create_graph and chunk_size is not None and len(x) > chunk_size:
        sums, logits = zip(
            *(
                _weighted_loss_grad(
                    model, params, x[i : i + chunk_size], y[i : i + chunk_size], weights[i : i + chunk_size], False
                )
                for i in range(0, len(x), chunk_size)
            )
        )
        return torch.stack(sums).sum(0), torch.cat(logits).detach()
    return _weighted_loss_grad(model, params, x, y, weights, create_graph)


def per_sample_grads(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    params: dict[str, torch.Tensor] | None = None,
    chunk_size: int | None = None,
) -> tuple[Grads, torch.Tensor]:
    """(∇_θ CE(Φ(x_i), y_i) for every i, logits) in one vmapped pass; differentiable in ``x``.

    ``params`` (default: all of θ*) are the coordinates differentiated; the others stay fixed.
    """
    if model.training:
        raise ValueError("per-sample gradients need the model in eval mode (samples must not interact)")
    params = frozen_parameters(model) if params is None else params
    fixed = {name: p.detach() for name, p in model.named_parameters() if name not in params}
    buffers = {name: b.detach() for name, b in model.named_buffers()}

    def sample_loss(
        p: dict[str, torch.Tensor], xi: torch.Tensor, yi: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        logits = functional_call(model, {**fixed, **p, **buffers}, (xi.unsqueeze(0),))
        return F.cross_entropy(logits, yi.unsqueeze(0)), logits.squeeze(0)

    grads, logits = vmap(grad(sample_loss, has_aux=True), in_dims=(None, 0, 0), chunk_size=chunk_size)(params, x, y)
    return grads, logits


def per_sample_grads_loop(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Grads:
    """The reference: one forward/backward per sample (slow; for tests)."""
    if model.training:
        raise ValueError("per-sample gradients need the model in eval mode (samples must not interact)")
    names = [name for name, _ in model.named_parameters()]
    rows: dict[str, list[torch.Tensor]] = {name: [] for name in names}
    for i in range(len(x)):
        loss = F.cross_entropy(model(x[i : i + 1]), y[i : i + 1])
        for name, g in zip(names, torch.autograd.grad(loss, list(model.parameters()), allow_unused=True)):
            rows[name].append(torch.zeros_like(dict(model.named_parameters())[name]) if g is None else g)
    return {name: torch.stack(rows[name]) for name in names}


def flatten_grads(grads: Grads) -> torch.Tensor:
    """(N, P): every sample's gradient as one row, parameters concatenated in name order."""
    return torch.cat([g.flatten(1) for g in grads.values()], dim=1)


def flatten_params(params: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([p.flatten() for p in params.values()])
