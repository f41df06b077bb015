"""The evaluation protocol of the distillation papers: fresh networks trained on a set alone.

Follows the reference (VICO-UoE/DatasetCondensation, ``utils.evaluate_synset``): a freshly
initialized ConvNet trained on the (synthetic or selected) set only, SGD lr 0.01, momentum
0.9, weight decay 5e-4, batch 256, ``epochs + 1`` passes, the learning rate x0.1 (with a new
optimiser, as the reference does) after pass ``epochs // 2 + 1``, and DSA on every batch: one
op chosen at random per batch, its random values drawn per image. The test accuracy of the
network is the set's score; a set is reported as mean ± sd over networks (seeds).

Deviations: the seed of each network (initialization, shuffling, augmentation) comes from the
caller instead of the clock; sizes (width, epochs, number of networks) are the pipeline's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypedDict

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from revis.augment import DiffAugment
from revis.curves import curve_key, log_history
from revis.distill.config import EvalProtocol
from revis.models import build_model
from revis.training import accuracy


def _sgd(model: nn.Module, protocol: EvalProtocol, lr: float) -> torch.optim.SGD:
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=protocol.momentum, weight_decay=protocol.weight_decay)


def train_on_set(
    x: torch.Tensor,
    y: torch.Tensor,
    shape: tuple[int, int, int],
    protocol: EvalProtocol,
    seed: int,
    *,
    device: str | torch.device = "cpu",
    progress: bool = False,
    desc: str = "eval",
    losses: list[float] | None = None,
) -> nn.Module:
    """One fresh network (C, K, S = ``shape``) trained on (x, y) under the protocol; returned in eval mode on CPU.

    ``losses``, when given, receives each epoch's mean batch loss (the training curve).
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = build_model(protocol.model, *shape).to(device)
    augment = DiffAugment(protocol.augment, single=True) if protocol.augment else None
    lr = protocol.lr
    optimizer = _sgd(net, protocol, lr)
    x, y = x.to(device), y.to(device)
    net.train()
    epoch_losses: list[float] = []
    for epoch in tqdm(range(protocol.epochs + 1), desc=desc, disable=not progress, leave=False):
        order = torch.randperm(len(x), generator=generator).to(device)
        for start in range(0, len(x), protocol.batch_size):
            index = order[start : start + protocol.batch_size]
            xb = augment(x[index], generator) if augment else x[index]
            loss = F.cross_entropy(net(xb), y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if losses is not None:  # read after the step: the computation is the same with or without a curve
                epoch_losses.append(float(loss.detach()))
        if losses is not None:
            losses.append(sum(epoch_losses) / len(epoch_losses))
            epoch_losses.clear()
        if epoch == protocol.epochs // 2 + 1:
            lr *= 0.1
            optimizer = _sgd(net, protocol, lr)
    return net.eval().cpu()


def score(model: nn.Module, x_test: torch.Tensor, y_test: torch.Tensor) -> float:
    """Test accuracy of one evaluation network."""
    return accuracy(model, x_test, y_test)


def _train_job(x, y, shape, protocol, seed, curve: str | None = None) -> dict:
    losses: list[float] = []
    net = train_on_set(x, y, shape, protocol, seed, losses=losses)
    if curve is not None:  # here, not after the last job: the curves reach the tracker while the others train
        log_history({"loss": losses}, curve)
    return {"state_dict": net.state_dict(), "seed": seed, "size": len(x), "shape": list(shape), "losses": losses}


class EvaluationNetworks(TypedDict):
    """``dsv.networks`` / ``dkkt.networks``: the protocol they were trained under and :func:`train_networks`' output."""

    protocol: dict[str, Any]  # EvalProtocol as a dict
    networks: dict[str, dict]  # "<group>/<seed>" -> {state_dict, seed, size, ...}


def train_networks(
    sets: dict[str, tuple[torch.Tensor, torch.Tensor, int, tuple[int, int, int]]],
    protocol: EvalProtocol | Callable[[str], EvalProtocol],
    *,
    workers: int = 1,
    desc: str = "evaluation networks",
) -> dict[str, dict]:
    """One network per ``key -> (images, labels, seed, shape)`` under the protocol; ``key -> {state_dict, seed, size}``.

    ``protocol`` may be a function of the key (e.g. ``revis.distill.config.protocol_for`` of the
    key's dataset). Empty sets (every candidate pruned) get no network: their key is absent.
    """
    from revis.workers import run_jobs

    def of(key: str) -> EvalProtocol:
        return protocol if isinstance(protocol, EvalProtocol) else protocol(key)

    keys = [key for key, (x, *_) in sets.items() if len(x) > 0]
    # "<group>/<seed>": one loss curve per network, logged by its job (revis.workers brings it back as it ends)
    jobs = [
        (sets[key][0], sets[key][1], sets[key][3], of(key), sets[key][2], curve_key(*key.rsplit("/", 1)))
        for key in keys
    ]
    results = run_jobs(_train_job, jobs, workers=workers, cost=lambda job: 1.0 + len(job[0]), desc=desc)
    return dict(zip(keys, results))


def load_network(entry: dict, protocol: EvalProtocol) -> nn.Module:
    """An evaluation network back from ``train_networks``' output."""
    net = build_model(protocol.model, *entry["shape"])
    net.load_state_dict(entry["state_dict"])
    return net.eval()


def summarize(accuracies: Mapping[str, float]) -> dict[str, dict]:
    """``"<group>/<seed>" -> accuracy`` into ``group -> mean_std_by_seed`` (seeds in ascending order)."""
    from revis.reporting.summary import mean_std_by_seed

    grouped: dict[str, dict[int, float]] = {}
    for key, value in accuracies.items():
        group, seed = key.rsplit("/", 1)
        grouped.setdefault(group, {})[int(seed)] = value
    return {group: mean_std_by_seed(v) for group, v in grouped.items()}


REPLICATE = "~"  # "<set key>~<r>": the set's r-th extra evaluation network (r ≥ 1)
REPLICATE_SEED_STRIDE = 1000  # replicate r of a set seeded s is seeded s + 1000·r (chain seeds stay below it)


def replicate_key(key: str, replicate: int) -> str:
    """The key of a set's ``replicate``-th evaluation network: ``key`` itself for the first, ``key~r`` after."""
    if replicate < 0:
        raise ValueError(f"replicate must be >= 0, got {replicate}")
    return key if replicate == 0 else f"{key}{REPLICATE}{replicate}"


def replicate_seed(seed: int, replicate: int) -> int:
    """The seed of a set's ``replicate``-th evaluation network (the first keeps the set's seed)."""
    return seed + REPLICATE_SEED_STRIDE * replicate


def score_networks(
    networks: Mapping[str, dict],
    keys: Iterable[str],
    prefix: str,
    protocol: EvalProtocol,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    empty: float,
) -> dict[str, float]:
    """``key -> test accuracy`` of the network ``networks[prefix + key]``, or the mean over it and its replicates
    (``replicate_key``: ``key~1``, ``key~2``, ... while present; the reference scores a set by the mean of
    ``num_eval`` networks); a set without one (every candidate pruned) scores ``empty`` (the constant guess)."""
    accuracies = {}
    for key in keys:
        entries: list[dict] = []
        while (entry := networks.get(f"{prefix}{replicate_key(key, len(entries))}")) is not None:
            entries.append(entry)
        scores = [score(load_network(entry, protocol), x_test, y_test) for entry in entries]
        accuracies[key] = sum(scores) / len(scores) if scores else empty
    return accuracies


def _ranks(values: list[float]) -> list[float]:
    """Ranks from 1, ties sharing their average rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def pearson(x: list[float], y: list[float]) -> float | None:
    """Pearson's r (None when either side is constant)."""
    mx, my = sum(x) / len(x), sum(y) / len(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx, syy = sum((a - mx) ** 2 for a in x), sum((b - my) ** 2 for b in y)
    return sxy / (sxx * syy) ** 0.5 if sxx > 0 and syy > 0 else None


def spearman(x: list[float], y: list[float]) -> float | None:
    """Spearman's ρ: Pearson's r of the (tie-averaged) ranks."""
    return pearson(_ranks(x), _ranks(y))
