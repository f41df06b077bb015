"""Pointwise feature vectors (PFVs): the C-vector of a layer's activation at one spatial position.

Activations are read with forward hooks on the unmodified model (``LayeredNetwork.hook_modules``).
Sampling follows the paper's idea of drawing PFVs in proportion to their contribution to the
output logit, which counters the dominance of background positions. The paper's exact
contribution measure is not published; we use **gradient x activation**,
``c_p = <x_p, d logit_y / d x_p>`` for the predicted class ``y`` — the first-order share of
position ``p`` in the logit (it sums to the logit's linearisation at that layer). Negative
contributions get no weight, and a small uniform share keeps every position possible.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager

import torch
from torch import nn
from tqdm.auto import tqdm

from revis.attribution.layered import LayeredNetwork


@contextmanager
def frozen(model: nn.Module):
    """Parameters stop requiring gradients (only gradients w.r.t. activations are needed)."""
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p in params:
            p.requires_grad_(True)


@contextmanager
def _hooked(modules: Sequence[nn.Module], keep_grad: bool):
    store: list[torch.Tensor | None] = [None] * len(modules)

    def make(i: int):
        def hook(_module, _inputs, output):
            if keep_grad:
                output.retain_grad()
            store[i] = output

        return hook

    handles = [module.register_forward_hook(make(i)) for i, module in enumerate(modules)]
    try:
        yield store
    finally:
        for handle in handles:
            handle.remove()


@torch.no_grad()
def layer_activations(
    net: LayeredNetwork, x: torch.Tensor, layers: Sequence[str] | None = None, batch_size: int = 256
) -> dict[str, torch.Tensor]:
    """Activations (N, C, H, W) of the chosen layers, read by forward hooks in one pass per batch."""
    layers = list(layers or net.names)
    modules = [net.hook_modules[net.index(name)] for name in layers]
    out: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    with _hooked(modules, keep_grad=False) as store:
        for start in range(0, len(x), batch_size):
            net.model(x[start : start + batch_size])
            for name, value in zip(layers, store):
                out[name].append(value.detach().clone())
    return {name: torch.cat(parts) for name, parts in out.items()}


def activations_and_contributions(
    net: LayeredNetwork, x: torch.Tensor, layers: Sequence[str] | None = None, batch_size: int = 128
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor]:
    """Per layer: activations (N, C, H, W) and gradient x activation contributions (N, H, W)
    to the predicted class logit; also the predicted classes (N,)."""
    layers = list(layers or net.names)
    modules = [net.hook_modules[net.index(name)] for name in layers]
    acts: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    contribs: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    predicted = []
    for start in range(0, len(x), batch_size):
        with _hooked(modules, keep_grad=True) as store, torch.enable_grad(), frozen(net.model):
            logits = net.model(x[start : start + batch_size].clone().requires_grad_(True))
            y = logits.argmax(1)
            logits.gather(1, y[:, None]).sum().backward()
            for name, value in zip(layers, store):
                acts[name].append(value.detach().clone())
                contribs[name].append((value * value.grad).sum(1).detach())
        predicted.append(y)
    return (
        {n: torch.cat(v) for n, v in acts.items()},
        {n: torch.cat(v) for n, v in contribs.items()},
        torch.cat(predicted),
    )


def sampling_weights(contributions: torch.Tensor, uniform_share: float = 0.05) -> torch.Tensor:
    """(N, H, W) contributions -> (N, H*W) sampling probabilities: positive part, plus a uniform share."""
    positive = contributions.flatten(1).clamp(min=0)
    total = positive.sum(1, keepdim=True)
    uniform = torch.full_like(positive, 1.0 / positive.shape[1])
    # an image with no positive contribution falls back to uniform sampling
    weighted = torch.where(total > 0, positive / total.clamp(min=1e-12), uniform)
    return (1 - uniform_share) * weighted + uniform_share * uniform


def sample_pfvs(
    activations: torch.Tensor,
    contributions: torch.Tensor,
    per_image: int,
    generator: torch.Generator,
    uniform_share: float = 0.05,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``per_image`` PFVs per image without replacement, with probability from the contributions.

    Returns the PFVs (N * s, C) and their origin (N * s, 3) as (image, row, column).
    """
    activations, contributions = activations.cpu(), contributions.cpu()  # the generator lives on the CPU
    n, c, h, w = activations.shape
    s = min(per_image, h * w)
    probs = sampling_weights(contributions, uniform_share)
    picks = torch.multinomial(probs, s, replacement=False, generator=generator)  # (N, s) flat positions
    images = torch.arange(n)[:, None].expand(n, s)
    flat = activations.flatten(2)  # (N, C, H*W)
    pfvs = flat[images, :, picks].reshape(n * s, c)
    origin = torch.stack([images.reshape(-1), picks.reshape(-1) // w, picks.reshape(-1) % w], dim=1)
    return pfvs, origin


def sample_dataset_pfvs(
    net: LayeredNetwork,
    x: torch.Tensor,
    per_image: int,
    seed: int,
    layers: Sequence[str] | None = None,
    batch_size: int = 128,
    uniform_share: float = 0.05,
) -> dict[str, dict[str, torch.Tensor]]:
    """Contribution-weighted PFV samples for every chosen layer: ``{layer: {"pfvs", "origin"}}``."""
    layers = list(layers or net.names)
    generator = torch.Generator().manual_seed(seed)
    out: dict[str, dict[str, list[torch.Tensor]]] = {name: {"pfvs": [], "origin": []} for name in layers}
    for start in tqdm(range(0, len(x), batch_size), desc="PFV sampling", leave=False):
        acts, contribs, _ = activations_and_contributions(net, x[start : start + batch_size], layers, batch_size)
        for name in layers:
            pfvs, origin = sample_pfvs(acts[name], contribs[name], per_image, generator, uniform_share)
            origin[:, 0] += start
            out[name]["pfvs"].append(pfvs)
            out[name]["origin"].append(origin)
    return {name: {key: torch.cat(parts) for key, parts in d.items()} for name, d in out.items()}
