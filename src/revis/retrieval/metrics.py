"""The metrics of ``merlin-evaluate``: R@1/5/10, MdR, MnR per round and condition, over whole-chain seeds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from revis.reporting.summary import mean_std
from revis.retrieval.bundles import RealFeatures
from revis.retrieval.experiment import LoopSettings, Simulation
from revis.retrieval.ranking import rank_metrics, target_ranks

MEASURES = ("r1", "r5", "r10", "mdr", "mnr")
GAINS = ("r1", "r10", "mnr")
LEVEL_MEASURES = ("r1_round0", "r1_final", "r1_gain", "r10_gain")

Summary = dict[str, Any]  # revis.reporting.summary.mean_std


@dataclass(frozen=True)
class MerlinMetrics:
    """``reports/merlin/metrics.json`` of the mini world (every condition, every round)."""

    rounds: dict[str, dict[str, dict[str, Summary]]]  # condition -> round<r> -> measure -> over seeds
    gain: dict[str, dict[str, Summary]]  # condition -> r1 | r10 | mnr -> last round minus round 0
    vagueness: dict[str, Any]  # r1_gain / r10_gain scatter (x: level, y: gain) and named<level> summaries
    questions_per_query: dict[str, Summary]
    pooling: dict[str, dict[str, Summary]]  # the other frame pooling -> r1 | r10 at round 0
    chance: dict[str, float]
    gallery: int
    queries: int
    main: str  # the condition the worked example and the vagueness analysis use
    scale: str


@dataclass(frozen=True)
class ZeroShotMetrics:
    """``reports/merlin/metrics.json`` of a real benchmark: round 0 only, from pre-extracted embeddings."""

    zero_shot: dict[str, float]
    gallery: int
    queries: int
    chance: dict[str, float]
    scale: str


def _rounds_and_gain(
    ranks: Mapping[str, Mapping[str, list[list[int]]]], seeds: Sequence[int], rounds: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    by_round: dict[str, Any] = {}
    gain: dict[str, Any] = {}
    for name, per_seed in ranks.items():
        table = {s: [rank_metrics(r) for r in per_seed[f"seed{s}"]] for s in seeds}
        by_round[name] = {
            f"round{r}": {m: mean_std([table[s][r][m] for s in seeds], seeds) for m in MEASURES}
            for r in range(rounds + 1)
        }
        gain[name] = {m: mean_std([table[s][-1][m] - table[s][0][m] for s in seeds], seeds) for m in GAINS}
    return by_round, gain


def _by_vagueness(
    main_ranks: Mapping[str, list[list[int]]], levels: Mapping[str, list[int]], seeds: Sequence[int]
) -> dict[str, Any]:
    """R@1 before and after, and the gains, of the queries naming each number of attributes (``main``)."""
    scatter: dict[str, Any] = {"r1_gain": {"x": [], "y": []}, "r10_gain": {"x": [], "y": []}}
    by_level: dict[str, Any] = {}
    for level in sorted({k for s in seeds for k in levels[f"seed{s}"]}):
        per: dict[str, list[float]] = {m: [] for m in LEVEL_MEASURES}
        for s in seeds:
            r = np.asarray(main_ranks[f"seed{s}"])
            mask = np.asarray(levels[f"seed{s}"]) == level
            first, last = rank_metrics(r[0, mask]), rank_metrics(r[-1, mask])
            per["r1_round0"].append(first["r1"])
            per["r1_final"].append(last["r1"])
            per["r1_gain"].append(last["r1"] - first["r1"])
            per["r10_gain"].append(last["r10"] - first["r10"])
            for m in ("r1_gain", "r10_gain"):
                scatter[m]["x"].append(float(level))
                scatter[m]["y"].append(per[m][-1])
        by_level[f"named{level}"] = {m: mean_std(v, seeds) for m, v in per.items()}
    return {**scatter, **by_level}


def merlin_metrics(
    simulation: Simulation,
    seeds: Sequence[int],
    settings: LoopSettings,
    pooling: str,
    main: str,
    gallery: int,
) -> MerlinMetrics:
    """Every condition's rounds and gains, the vagueness analysis of ``main``, the other pooling at round 0."""
    rounds, gain = _rounds_and_gain(simulation.ranks, seeds, settings.rounds)
    levels = simulation.levels
    queries = len(levels[f"seed{seeds[0]}"])
    named = sorted({k for s in seeds for k in levels[f"seed{s}"]})
    other = "attention" if pooling == "mean" else "mean"
    scale = (
        f"mini-world video gallery of {gallery} held-out videos (one frame per 2-s clip, 32 px), "
        f"{queries} queries per seed naming {named[0]}-{named[-1]} attributes of one event; vl encoder "
        f"(tiny ViT + frozen MiniLM head) per seed, {pooling} frame pooling; rule/entropy questioners, "
        "simulated user from per-clip ground truth answering "
        f"{'with restatements' if settings.user_restates else 'only the slot asked about'}; "
        f"{settings.rounds} rounds, alpha {settings.alpha}; {len(seeds)} "
        "whole-chain seeds (vl encoder, query sample, user noise)"
    )
    pooling_other = simulation.pooling_other
    return MerlinMetrics(
        rounds=rounds,
        gain=gain,
        vagueness=_by_vagueness(simulation.ranks[main], levels, seeds),
        questions_per_query={name: mean_std(v, seeds) for name, v in simulation.asked.items()},
        pooling={other: {m: mean_std([p[m] for p in pooling_other], seeds) for m in ("r1", "r10")}},
        chance={"r1": 100.0 / gallery, "r5": 500.0 / gallery, "r10": 1000.0 / gallery},
        gallery=gallery,
        queries=queries,
        main=main,
        scale=scale,
    )


def zero_shot_metrics(features: RealFeatures) -> tuple[ZeroShotMetrics, np.ndarray]:
    """Real benchmarks: round 0 from the pre-extracted embeddings (no simulated user for real videos); the ranks."""
    ranks = target_ranks(features["query_z"].numpy(), features["gallery"].numpy(), features["targets"])
    gallery = len(features["vids"])
    metrics = ZeroShotMetrics(
        zero_shot=rank_metrics(ranks),
        gallery=gallery,
        queries=len(ranks),
        chance={"r1": 100.0 / gallery, "r10": 1000.0 / gallery},
        scale=f"{features['dataset']}: {len(ranks)} queries vs {gallery} videos, pre-extracted embeddings; round 0 only",
    )
    return metrics, ranks
