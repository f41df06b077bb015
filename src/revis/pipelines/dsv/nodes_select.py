"""``dsv-select``: λ of every real training sample per teacher, and the top-λ / random subsets per class."""

from __future__ import annotations

from typing import Any

from revis.config.runtime import ComputeParams
from revis.datasets.imageset import ImageSet
from revis.distill.chain import Chain
from revis.distill.data import DataParams, load_splits
from revis.kkt.artifacts import ChainLambdas, ChainSubsets
from revis.kkt.real import RealFitJob, chain_subsets, fit_real_job
from revis.kkt.teacher import TeacherBundle, TeacherState
from revis.pipelines.dsv.params import Select
from revis.runtime import apply_runtime
from revis.workers import run_jobs

PARALLEL_FROM = 4_000_000  # images x pixels of all λ fits from which they run on compute.workers processes


def rank_training_sets(
    teachers: TeacherBundle,
    shapes: dict[str, Any],
    digits: dict[str, ImageSet],
    seeds: dict[str, list[int]],
    data: DataParams,
    compute: ComputeParams,
    select: Select,
) -> tuple[dict[str, ChainLambdas], dict[str, ChainSubsets]]:
    """λ per (dataset, seed) with the images fixed; subsets ``{kind: {k: indices}}`` per (dataset, seed)."""
    apply_runtime(compute.device, compute.threads)
    chains, jobs = [], []
    for name, listed in seeds.items():
        splits = load_splits(name, shapes, digits, data)
        for seed in listed:
            chain = Chain(name, seed)
            chains.append(chain)
            jobs.append(RealFitJob.of(TeacherState.of(teachers, chain), splits.x_train, splits.y_train, select))
    # a λ fit costs about its images x pixels (shapes at 16 px: ~3.5 CPU s, digits ~0.3): below ~4 M (a few
    # seconds in all) inline beats spawning workers (~3 s each); above, the workers halve the wall clock
    cost = lambda job: len(job[0].y) * job[0].x[0].numel()  # noqa: E731
    workers = compute.workers if sum(cost((job,)) for job in jobs) > PARALLEL_FROM else 1
    results = run_jobs(fit_real_job, [(job,) for job in jobs], workers=workers, cost=cost, desc="lambda")
    lambdas: dict[str, ChainLambdas] = {}
    subsets: dict[str, ChainSubsets] = {}
    for chain, job, result in zip(chains, jobs, results):
        lambdas[str(chain)] = ChainLambdas(
            lam=result["lam"], alive=result["alive"], scale=result["scale"], history=result["history"], labels=job.y
        )
        subsets[str(chain)] = chain_subsets(result["lam"], job.y, select.sizes, chain.seed)
    return lambdas, subsets
