"""Distillation from partial data (dkkt): the visible subset, the methods compared, key conventions."""

from __future__ import annotations

from collections.abc import Iterable

import torch

# sets at ipc per class, and single sets of 2·ipc per class (the size of DM ∪ DSV)
METHODS = ("random", "dm", "dm_dkkt", "dsv", "union", "random_x2", "dm_x2", "dsv_x2")


def partial_indices(y: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """A stratified random ``fraction`` of a split (indices), at least one image per class."""
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for c in torch.unique(y):
        members = (y == c).nonzero().squeeze(1)
        take = max(1, round(fraction * len(members)))
        chosen.append(members[torch.randperm(len(members), generator=generator)[:take]])
    return torch.cat(chosen)


def fraction_key(fraction: float) -> str:
    """0.05 -> '5pct' (no '.' in keys: metric paths are dotted)."""
    return f"{fraction * 100:g}".replace(".", "_") + "pct"


def fraction_value(key: str) -> float:
    """'5pct' -> 0.05."""
    return float(key[: -len("pct")].replace("_", ".")) / 100


def ordered(keys: Iterable[str]) -> list[str]:
    """'<fraction>/<ipc>' keys by ascending fraction, then ipc (JSON files sort keys as text)."""

    def order(key: str) -> tuple[float, int]:
        fraction, _, ipc = key.partition("/")
        return fraction_value(fraction), int(ipc or 0)

    return sorted(keys, key=order)


def validation_indices(y: torch.Tensor, keep: torch.Tensor, share: float, seed: int) -> torch.Tensor:
    """A stratified validation split carved from a visible set (indices into ``y``), never touching ``keep``.

    Per class: ``max(1, round(share · n_c))`` of the class's images outside ``keep`` (the
    synthesis' starting images, which must stay in the pool), fewer where fewer are left.
    """
    generator = torch.Generator().manual_seed(seed + 7_919)
    kept = torch.zeros(len(y), dtype=torch.bool)
    kept[keep] = True
    chosen = []
    for c in torch.unique(y):
        members = ((y == c) & ~kept).nonzero().squeeze(1)
        take = min(len(members), max(1, round(share * int((y == c).sum()))))
        chosen.append(members[torch.randperm(len(members), generator=generator)[:take]])
    return torch.cat(chosen) if chosen else torch.zeros(0, dtype=torch.long)
