"""Distillation from partial data (dkkt) per chain: the jobs, their results assembled into sets, the evaluation.

Per chain (dataset, seed), visible fraction and ipc: the random start (the first ipc of 2·ipc
random visible images per class) and the 2·ipc start; DM and DSV from each start, DM +
Deep-KKT (its weight chosen per run on a validation split) from the ipc start; DM ∪ DSV after.
The artifact (``dkkt.distilled``) keys chains by ``str(chain)``: ``{"<dataset>/<seed>":
{"visible", "shape", "sets": {"<fraction>/<ipc>": {method: {images, labels}}}, "histories"}}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from revis.curves import curve_key, log_curve
from revis.datasets.named import Splits
from revis.distill.artifacts import DistilledChain, DistilledSet, VisibleSubsets
from revis.distill.chain import Chain
from revis.distill.config import DMConfig, EvalProtocol, dm_for, protocol_for
from revis.distill.dm import DMJob, dm_job
from revis.distill.evaluation import score_networks
from revis.distill.metrics import PartialDatasetMetrics, dataset_metrics, run_keys
from revis.distill.partial import fraction_key, ordered, partial_indices
from revis.distill.pictures import PartialPictures, partial_pictures
from revis.kkt.config import KKTParams, SynthesisParams
from revis.kkt.real import random_per_class
from revis.kkt.synthesis import ChosenDMDKKTJob, RisingTrials, SynthesisJob, dm_dkkt_chosen_job, synthesize_job
from revis.kkt.teacher import TeacherState
from revis.reporting.summary import majority_class_rate

PartialJob = DMJob | SynthesisJob | ChosenDMDKKTJob
Pair = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class PartialSettings:
    """What every chain's jobs share: the ipc values, DM, the DeepKKT term and its weight grid, DSV, the protocol,
    what a rising validation trial becomes."""

    ipc: Sequence[int]
    dm: DMConfig
    term: KKTParams
    grid: tuple[float, ...]
    validation_share: float
    synthesis: SynthesisParams
    protocol: EvalProtocol
    rising_trials: RisingTrials = "restart"


@dataclass(frozen=True)
class SetJob:
    """One job of the plan: the chain, the ``<fraction>/<ipc>`` key, the method (``dm``, ``dsv_x2``...)."""

    chain: Chain
    key: str
    method: str
    job: PartialJob


def visible_subsets(
    seeds: Mapping[str, Sequence[int]], fractions: Mapping[str, Sequence[float]], labels: Mapping[str, torch.Tensor]
) -> dict[Chain, VisibleSubsets]:
    """The visible subset per chain and fraction (indices into the dataset's training ``labels``)."""
    return {
        Chain(name, seed): {
            fraction_key(f): partial_indices(labels[name], f, seed).tolist() for f in sorted(fractions[name])
        }
        for name, listed in seeds.items()
        for seed in listed
    }


def run_partial_job(job: PartialJob) -> Mapping[str, Any]:
    """Run one job of the plan (a worker job)."""
    if isinstance(job, DMJob):
        return dm_job(job)
    if isinstance(job, SynthesisJob):
        return synthesize_job(job)
    return dm_dkkt_chosen_job(job)


def partial_cost(job: PartialJob) -> float:
    """Relative cost (for scheduling): DM + Deep-KKT trains one extra run and network per weight of its grid."""
    if isinstance(job, ChosenDMDKKTJob):
        return 3.0 * (1 + len(job.grid)) * len(job.dm.labels)
    return 1.0 * len(job.labels)


def chain_plan(
    chain: Chain,
    splits: Splits,
    visible: VisibleSubsets,
    teacher: TeacherState,
    settings: PartialSettings,
) -> tuple[dict[str, Any], list[SetJob]]:
    """One chain's plan (``visible`` counts, ``sets`` holding the random starts, ``shape``) and its jobs."""
    k = splits.num_classes
    plan: dict[str, Any] = {"visible": {}, "sets": {}, "shape": list(splits.shape)}
    jobs: list[SetJob] = []
    for fraction in ordered(visible):
        index = torch.tensor(visible[fraction])
        px, py = splits.x_train[index], splits.y_train[index]
        per_class = int(torch.bincount(py, minlength=k).min())
        plan["visible"][fraction] = len(index)
        for ipc in sorted(settings.ipc):
            if 2 * ipc > per_class:  # the 2·ipc sets start from 2·ipc visible images per class
                continue
            key = f"{fraction}/{ipc}"
            start = random_per_class(py, 2 * ipc, chain.seed)  # the first ipc of each class are the ipc start
            first = torch.cat([start[py[start] == c][:ipc] for c in range(k)])
            sets = {"random": (px[first], py[first]), "random_x2": (px[start], py[start])}
            plan["sets"][key] = sets
            jobs += [
                SetJob(chain, key, method, job)
                for method, job in _jobs(chain, splits, px, py, first, sets, teacher, settings)
            ]
    return plan, jobs


def _jobs(
    chain: Chain,
    splits: Splits,
    px: torch.Tensor,
    py: torch.Tensor,
    first: torch.Tensor,
    sets: dict[str, Pair],
    teacher: TeacherState,
    settings: PartialSettings,
) -> list[tuple[str, PartialJob]]:
    """DM and DSV from both starts, DM + Deep-KKT from the ipc start (in this order)."""
    jobs: list[tuple[str, PartialJob]] = []

    def dm(x0: torch.Tensor, y0: torch.Tensor) -> DMJob:
        return DMJob(px, py, dm_for(chain.dataset, settings.dm), splits.num_classes, chain.seed, x0, y0)

    for method, (x0, y0) in (("", sets["random"]), ("_x2", sets["random_x2"])):
        jobs.append((f"dm{method}", dm(x0, y0)))
        dsv = SynthesisJob(teacher, px[:4], x0, y0, splits.bounds(), settings.synthesis, False, chain.seed)
        jobs.append((f"dsv{method}", dsv))
    kkt = ChosenDMDKKTJob(
        dm(*sets["random"]),
        teacher,
        settings.term,
        settings.grid,
        settings.validation_share,
        protocol_for(chain.dataset, settings.protocol),
        splits.shape,
        first,
        settings.rising_trials,
    )
    jobs.append(("dm_dkkt", kkt))
    return jobs


def assemble(
    plans: dict[Chain, dict[str, Any]], jobs: list[SetJob], results: list[dict[str, Any]]
) -> dict[str, DistilledChain]:
    """The distilled sets and their histories per chain (``dkkt.distilled``), DM ∪ DSV added; DM curves logged."""
    for item, result in zip(jobs, results):
        plan = plans[item.chain]
        plan["sets"][item.key][item.method] = (result["images"], result["labels"])
        guard = {"guard": result["guard"]} if "guard" in result else {}  # DSV syntheses return it apart
        plan.setdefault("histories", {}).setdefault(item.key, {})[item.method] = {**result["history"], **guard}
        if not isinstance(item.job, SynthesisJob):
            arm = f"{item.key.replace('/', '.ipc')}.{item.method}"
            for step, value in enumerate(result["history"]["dm"]):
                log_curve({"dm": value}, step, curve_key(*item.chain.curve(arm)))
    for entry in plans.values():
        for sets in entry["sets"].values():
            (dx, dy), (sx, sy) = sets["dm"], sets["dsv"]
            sets["union"] = (torch.cat([dx, sx]), torch.cat([dy, sy]))
    return {
        str(chain): DistilledChain(
            visible=entry["visible"],
            shape=entry["shape"],
            sets={
                key: {m: DistilledSet(images=x, labels=y) for m, (x, y) in sets.items()}
                for key, sets in entry["sets"].items()
            },
            histories=entry.get("histories", {}),
        )
        for chain, entry in plans.items()
    }


def evaluate_dataset(
    name: str,
    seeds: Sequence[int],
    splits: Splits,
    networks: Mapping[str, Any],
    protocol: EvalProtocol,
    distilled: Mapping[str, Any],
) -> tuple[PartialDatasetMetrics, PartialPictures]:
    """One dataset's metrics and pictures: every set of every chain scored by its evaluation network (an empty
    set scores the constant guess), DM's runs, the weight choices, the guard."""
    chance = majority_class_rate(splits.y_test, splits.num_classes)
    entries = {seed: distilled[str(Chain(name, seed))] for seed in seeds}
    accuracies: dict[str, float] = {}
    for seed, entry in entries.items():
        keys = [f"{method}/{key}/{seed}" for key, methods in entry["sets"].items() for method in methods]
        accuracies |= score_networks(networks, keys, f"{name}/", protocol, splits.x_test, splits.y_test, chance)
    metrics = dataset_metrics(chance, accuracies, entries)
    pictures = partial_pictures(name, splits, entries[seeds[0]], run_keys(metrics.methods), metrics.methods)
    return metrics, pictures


def partial_scale(protocol: EvalProtocol, seeds: Mapping[str, Sequence[int]]) -> str:
    """metrics.json's ``scale``: the datasets, DM's and the evaluation networks, the seeds."""
    counts = ", ".join(f"{n} {len(listed)}" for n, listed in seeds.items())
    m = protocol.model
    return (
        f"mini world CPU: {', '.join(seeds)}; DM and evaluation {m.name} w{m.width} "
        f"({protocol.epochs} epochs); whole-chain seeds: {counts}"
    )
