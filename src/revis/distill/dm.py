"""Distribution Matching (Zhao & Bilen, "Dataset Condensation with Distribution Matching", WACV 2023).

Synthetic images S are learned so that, for randomly initialised networks ψ, the mean
embedding of every class matches the real one: Σ_c ‖mean ψ(A(T_c)) − mean ψ(A(S_c))‖².
Every iteration samples a *fresh* ConvNet (no training at all), and A is a differentiable
siamese augmentation: one random draw per class, applied to the real and the synthetic batch
alike. Synthetic images start from real ones; SGD (lr 1.0, momentum 0.5 in the paper).

``extra`` adds another objective on the synthetic images (e.g. the DeepKKT term of a trained
model, ``revis.kkt.KKTState``): loss = L_DM + extra_weight · extra.loss(S), and
``extra.step()`` runs after every image update (it updates its own variables, e.g. λ).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import torch
from tqdm.auto import tqdm

from revis.augment import DiffAugment
from revis.models import ModelConfig, build_model


class ExtraObjective(Protocol):
    def loss(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, dict[str, float]]: ...

    def step(self) -> int: ...


@dataclass
class DMResult:
    images: torch.Tensor
    labels: torch.Tensor
    history: dict[str, list[float]] = field(default_factory=dict)


def fresh_network(
    model: ModelConfig | dict, shape: tuple[int, int, int], seed: int, device: str | torch.device = "cpu"
):
    """A randomly initialised network (C, K, S) = ``shape``, seeded without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = build_model(model, *shape)
    return net.to(device)


def class_mean_embedding_loss(
    net: torch.nn.Module,
    real: dict[int, torch.Tensor],
    syn_x: torch.Tensor,
    syn_y: torch.Tensor,
    augment: DiffAugment | None,
    generator: torch.Generator,
) -> torch.Tensor:
    """Σ_c ‖mean ψ(A_c(T_c)) − mean ψ(A_c(S_c))‖² with one shared draw A_c per class."""
    real_batches, syn_batches, sizes = [], [], []
    for c, real_c in real.items():
        syn_c = syn_x[syn_y == c]
        if augment:
            draw = augment.draw(1, syn_x.shape[1:], generator)
            real_c, syn_c = augment.apply(real_c, draw), augment.apply(syn_c, draw)
        real_batches.append(real_c)
        syn_batches.append(syn_c)
        sizes.append((len(real_c), len(syn_c)))
    # one forward for all classes: the embedding is per sample (instance norm), so batching is exact
    real_emb = net.embed(torch.cat(real_batches)).split([r for r, _ in sizes])
    syn_emb = net.embed(torch.cat(syn_batches)).split([s for _, s in sizes])
    return sum(((r.mean(0) - s.mean(0)) ** 2).sum() for r, s in zip(real_emb, syn_emb))


def distribution_matching(
    real_x: torch.Tensor,
    real_y: torch.Tensor,
    syn_init: torch.Tensor,
    syn_y: torch.Tensor,
    *,
    num_classes: int,
    model: ModelConfig | dict,
    iterations: int,
    lr: float = 1.0,
    momentum: float = 0.5,
    batch_real: int = 256,
    augment: DiffAugment | None = None,
    seed: int = 0,
    extra: ExtraObjective | None = None,
    extra_weight: float = 0.0,
    device: str | torch.device = "cpu",
    progress: bool = True,
    desc: str = "dm",
) -> DMResult:
    """Learn synthetic images (initialised as ``syn_init``) that match the real class embeddings."""
    generator = torch.Generator().manual_seed(seed)
    shape = (real_x.shape[1], num_classes, real_x.shape[-1])
    classes = [int(c) for c in torch.unique(syn_y)]
    pools = {c: real_x[real_y == c] for c in classes}
    missing = [c for c, pool in pools.items() if len(pool) == 0]
    if missing:
        raise ValueError(f"no real images of classes {missing} to match")
    syn = syn_init.clone().to(device).requires_grad_(True)
    syn_y = syn_y.to(device)
    optimizer = torch.optim.SGD([syn], lr=lr, momentum=momentum)
    history: dict[str, list[float]] = {"dm": [], "extra": []}
    bar = tqdm(range(iterations), desc=desc, disable=not progress, leave=False)
    for it in bar:
        net = fresh_network(model, shape, seed * 1_000_003 + it, device).train().requires_grad_(False)
        real = {}
        for c, pool in pools.items():
            pick = torch.randperm(len(pool), generator=generator)[:batch_real]
            real[c] = pool[pick].to(device)
        loss = class_mean_embedding_loss(net, real, syn, syn_y, augment, generator)
        history["dm"].append(float(loss.detach()))
        if extra is not None and extra_weight > 0:
            extra_loss, _ = extra.loss(syn, generator)
            loss = loss + extra_weight * extra_loss
            history["extra"].append(float(extra_loss.detach()))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if extra is not None and extra_weight > 0:
            extra.step()
        with torch.no_grad():
            syn.clamp_(0.0, 1.0)
        bar.set_postfix(dm=f"{history['dm'][-1]:.4g}")
    return DMResult(syn.detach().cpu(), syn_y.cpu(), history)
