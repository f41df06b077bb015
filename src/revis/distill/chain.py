"""The key of one whole chain of the distillation pipelines: a dataset and a chain seed.

Seed s of dataset d varies everything downstream of it (the teacher θ*, the λ fit, the random
subsets and shots, the syntheses, the evaluation networks). Artifacts on disk key their entries
by ``str(chain)`` (``"digits/0"``); code handles ``Chain`` values and converts at that boundary
(``Chain.parse``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Chain:
    dataset: str
    seed: int

    def __str__(self) -> str:
        return f"{self.dataset}/{self.seed}"

    @classmethod
    def parse(cls, key: str) -> Chain:
        """``"digits/0"`` -> ``Chain("digits", 0)``."""
        dataset, seed = key.split("/")
        return cls(dataset, int(seed))

    def curve(self, arm: str) -> tuple[str, str]:
        """(group, seed) of a tracker curve of this chain (``revis.curves.curve_key``): ``<dataset>.<arm>``."""
        return f"{self.dataset}.{arm}", str(self.seed)


def chains(seeds: Mapping[str, Sequence[int]]) -> Iterator[Chain]:
    """Every chain of ``{dataset: seeds}``, datasets in the mapping's order, seeds as listed."""
    for dataset, listed in seeds.items():
        for seed in listed:
            yield Chain(dataset, seed)
