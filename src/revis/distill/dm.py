"""Distribution Matching (Zhao & Bilen, "Dataset Condensation with Distribution Matching", WACV 2023).

Follows the reference implementation (VICO-UoE/DatasetCondensation, ``main_DM.py``):

- every iteration builds a *fresh* randomly initialized ConvNet (width 128, instance norm),
  puts it in train mode with its parameters frozen, and uses its embedding ψ (the features
  before the classifier);
- per class c, a batch of ``batch_real`` real images T_c from the real pool and the class's
  synthetic images S_c go through the same DSA draw A_c (one op chosen at random, its random
  values shared by the batch: the reference's ``seed``-ed ``DiffAugment`` in batch mode);
- loss Σ_c ‖mean ψ(A_c(T_c)) − mean ψ(A_c(S_c))‖², real embeddings detached;
- SGD on the synthetic pixels, lr 1.0, momentum 0.5; images live in the normalized space of
  the real data and are not clipped (as in the reference);
- the synthetic set starts from random real images of each class (``init='real'``) or from
  Gaussian noise (``init='noise'``).

The real pool is whatever the caller passes: the whole visible split.
Deviation: seeds come from the caller (a torch.Generator and ``seed``), not from the clock,
so runs repeat exactly.

``extra`` adds another objective on the synthetic images (e.g. the DeepKKT term of a trained
model, ``revis.kkt.KKTState``): loss = L_DM + extra_weight · extra.loss(S), and
``extra.step()`` runs after every image update (it updates its own variables, e.g. λ).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import torch
from tqdm.auto import tqdm

from revis.augment import DiffAugment
from revis.curves import log_curve
from revis.distill.config import DMConfig
from revis.models import ModelConfig, build_model


class Embedding(Protocol):
    """A network with ``embed``: the features before its classifier (``revis.models``' ConvNet)."""

    def embed(self, x: torch.Tensor) -> torch.Tensor: ...


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
    """A randomly initialized network (C, K, S) = ``shape``, seeded without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = build_model(model, *shape)
    return net.to(device)


@torch.no_grad()
def reinitialize(net: torch.nn.Module, generator: torch.Generator) -> torch.nn.Module:
    """Draw fresh parameters in place, as PyTorch's default initialization does, from ``generator``.

    Same distribution as building a new network (conv / linear: Kaiming-uniform weights with
    a = √5 and uniform biases in ±1/√fan_in; norms: ones and zeros), without rebuilding the
    modules or reseeding torch's global generators every DM iteration.
    """
    for module in net.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            fan_in = module.weight[0].numel()
            bound = 1.0 / math.sqrt(fan_in)  # kaiming_uniform_(a=√5): gain √(2/(1+5)), bound gain·√(3/fan_in)
            module.weight.uniform_(-bound, bound, generator=generator)
            if module.bias is not None:
                module.bias.uniform_(-bound, bound, generator=generator)
        elif isinstance(module, (torch.nn.GroupNorm, torch.nn.BatchNorm2d)) and module.affine:
            module.weight.fill_(1.0)
            module.bias.fill_(0.0)
    return net


def class_mean_embedding_loss(
    net: Embedding,
    real: dict[int, torch.Tensor],
    syn_x: torch.Tensor,
    syn_y: torch.Tensor,
    augment: DiffAugment | None,
    generator: torch.Generator,
) -> torch.Tensor:
    """Σ_c ‖mean ψ(A_c(T_c)) − mean ψ(A_c(S_c))‖² with one shared draw A_c per class (real side detached)."""
    real_batches, syn_batches, sizes = [], [], []
    for c, real_c in real.items():
        syn_c = syn_x[syn_y == c]
        if augment:
            draw = augment.draw(1, syn_x.shape[1:], generator)
            real_c, syn_c = augment.apply(real_c, draw), augment.apply(syn_c, draw)
        real_batches.append(real_c)
        syn_batches.append(syn_c)
        sizes.append((len(real_c), len(syn_c)))
    # one forward per side for all classes: the embedding is per sample (instance norm), so batching is exact
    with torch.no_grad():
        real_emb = net.embed(torch.cat(real_batches)).split([r for r, _ in sizes])
    syn_emb = net.embed(torch.cat(syn_batches)).split([s for _, s in sizes])
    return sum(((r.mean(0) - s.mean(0)) ** 2).sum() for r, s in zip(real_emb, syn_emb))


def initial_images(
    real_x: torch.Tensor, real_y: torch.Tensor, ipc: int, num_classes: int, init: str, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``ipc`` images per class: random real ones of the class (``real``) or N(0, 1) noise (``noise``)."""
    labels = torch.arange(num_classes).repeat_interleave(ipc)
    if init == "noise":
        return torch.randn(len(labels), *real_x.shape[1:], generator=generator), labels
    images = []
    for c in range(num_classes):
        pool = real_x[real_y == c]
        if len(pool) < ipc:
            raise ValueError(f"class {c} has {len(pool)} real images, fewer than the {ipc} to start from")
        images.append(pool[torch.randperm(len(pool), generator=generator)[:ipc]])
    return torch.cat(images), labels


def distribution_matching(
    real_x: torch.Tensor,
    real_y: torch.Tensor,
    syn_init: torch.Tensor,
    syn_y: torch.Tensor,
    config: DMConfig,
    *,
    num_classes: int,
    seed: int = 0,
    extra: ExtraObjective | None = None,
    extra_weight: float = 0.0,
    device: str | torch.device = "cpu",
    progress: bool = True,
    desc: str = "dm",
    curve: str | None = None,
) -> DMResult:
    """Learn synthetic images (starting at ``syn_init``) whose class mean embeddings match the real pool's.

    ``curve`` (``revis.curves.curve_key``) names the loss curve for the tracker (``<arm>/seed<k>/dm``).
    """
    generator = torch.Generator().manual_seed(seed)
    augment = DiffAugment(config.augment, single=True) if config.augment else None
    shape = (real_x.shape[1], num_classes, real_x.shape[-1])
    classes = [int(c) for c in torch.unique(syn_y)]
    pools = {c: real_x[real_y == c] for c in classes}
    missing = [c for c, pool in pools.items() if len(pool) == 0]
    if missing:
        raise ValueError(f"no real images of classes {missing} to match")
    syn = syn_init.clone().to(device).requires_grad_(True)
    syn_y = syn_y.to(device)
    optimizer = torch.optim.SGD([syn], lr=config.lr, momentum=config.momentum)
    history: dict[str, list[float]] = {"dm": [], "extra": []}
    use_extra = extra is not None and extra_weight > 0
    net = fresh_network(config.model, shape, seed, device).train().requires_grad_(False)
    networks = torch.Generator(device=device).manual_seed(seed * 1_000_003 + 1)
    bar = tqdm(range(config.iterations), desc=desc, disable=not progress, leave=False)
    for it in bar:
        if it:  # a fresh random network every iteration
            reinitialize(net, networks)
        real = {}
        for c, pool in pools.items():
            pick = torch.randperm(len(pool), generator=generator)[: config.batch_real]
            real[c] = pool[pick].to(device)
        loss = class_mean_embedding_loss(net, real, syn, syn_y, augment, generator)
        history["dm"].append(float(loss.detach()) / len(classes))  # the reference prints loss / classes
        if use_extra:
            extra_loss, _ = extra.loss(syn, generator)  # type: ignore[union-attr]
            loss = loss + extra_weight * extra_loss
            history["extra"].append(float(extra_loss.detach()))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if use_extra:
            extra.step()  # type: ignore[union-attr]
        if curve is not None:
            log_curve({"dm": history["dm"][-1], **({"extra": history["extra"][-1]} if use_extra else {})}, it, curve)
        bar.set_postfix(dm=f"{history['dm'][-1]:.4g}")
    return DMResult(syn.detach().cpu(), syn_y.cpu(), history)


@dataclass(frozen=True)
class DMJob:
    """One DM run (a worker job): the real pool, the start and its labels, the settings, the seed."""

    real_x: torch.Tensor
    real_y: torch.Tensor
    config: DMConfig
    num_classes: int
    seed: int
    init: torch.Tensor
    labels: torch.Tensor


def dm_job(job: DMJob) -> dict:
    """One DM run (a worker job): ``{images, labels, history}``.

    Guarded (``revis.distill.guard``): a run whose loss ends above its start is rerun at a lower
    image step size; ``history["guard"]`` records the step size used, the restarts and ``diverged``.
    """
    from revis.distill.guard import run_guarded

    def attempt(lr: float) -> dict:
        result = distribution_matching(
            job.real_x,
            job.real_y,
            job.init,
            job.labels,
            job.config.model_copy(update={"lr": lr}),
            num_classes=job.num_classes,
            seed=job.seed,
            progress=False,
        )
        return {"images": result.images, "labels": result.labels, "history": result.history}

    result = run_guarded(attempt, job.config.lr, lambda out: out["history"]["dm"])
    result["history"]["guard"] = result.pop("guard")
    return result
