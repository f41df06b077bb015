"""``dkkt-distill``: from each visible fraction, per chain seed: random, DM, DM + Deep-KKT, DSV, DM ∪ DSV and 2·ipc sets."""

from __future__ import annotations

from typing import Any

from revis.config.runtime import ComputeParams
from revis.datasets.imageset import ImageSet
from revis.distill.artifacts import DistilledChain, VisibleSubsets
from revis.distill.chain import Chain
from revis.distill.config import EvalProtocol
from revis.distill.data import DataParams, load_splits
from revis.distill.partial_experiment import (
    PartialSettings,
    SetJob,
    assemble,
    chain_plan,
    partial_cost,
    run_partial_job,
    visible_subsets,
)
from revis.kkt.config import synthesis_params
from revis.kkt.teacher import TeacherBundle, TeacherState
from revis.pipelines.dkkt.params import Distill
from revis.runtime import apply_runtime
from revis.workers import run_jobs


def distill_partial(
    teachers: TeacherBundle,
    shapes: dict[str, Any],
    digits: dict[str, ImageSet],
    seeds: dict[str, list[int]],
    fractions: dict[str, list[float]],
    data: DataParams,
    compute: ComputeParams,
    distill: Distill,
    evaluation: EvalProtocol,
) -> tuple[dict[str, VisibleSubsets], dict[str, DistilledChain]]:
    """The visible subsets, and per (dataset, seed, fraction, ipc) every method's set (λ_dkkt chosen per run)."""
    apply_runtime(compute.device, compute.threads)
    splits = {name: load_splits(name, shapes, digits, data) for name in seeds}
    visible = visible_subsets(seeds, fractions, {name: s.y_train for name, s in splits.items()})
    term = distill.dkkt
    dsv = synthesis_params(term, distill.dsv.steps, distill.dsv.lr_images)
    settings = PartialSettings(
        distill.ipc, distill.dm, term, tuple(term.grid), term.validation_share, dsv, evaluation, term.rising_trials
    )
    plans: dict[Chain, dict[str, Any]] = {}
    jobs: list[SetJob] = []
    for chain, subsets in visible.items():
        teacher = TeacherState.of(teachers, chain)
        plans[chain], chain_jobs = chain_plan(chain, splits[chain.dataset], subsets, teacher, settings)
        jobs += chain_jobs
    results = run_jobs(
        run_partial_job,
        [(item.job,) for item in jobs],
        workers=compute.workers,
        cost=lambda job: partial_cost(job[0]),
        desc="dkkt distillation",
    )
    return {str(chain): subsets for chain, subsets in visible.items()}, assemble(plans, jobs, results)
