"""``dsv-distill``: Deep Support Vectors per (dataset, seed): 0-shot from noise, few-shot from the seed's random shots."""

from __future__ import annotations

from typing import Any

from revis.config.runtime import ComputeParams
from revis.datasets.imageset import ImageSet
from revis.distill.chain import Chain
from revis.distill.data import DataParams, load_splits
from revis.kkt.artifacts import ChainSubsets, SynthesisRecord
from revis.kkt.dsv import collect_syntheses, synthesis_jobs
from revis.kkt.synthesis import synthesize_job
from revis.kkt.teacher import TeacherBundle, TeacherState
from revis.pipelines.dsv.params import Distill
from revis.runtime import apply_runtime
from revis.workers import run_jobs


def synthesize_dsvs(
    teachers: TeacherBundle,
    subsets: dict[str, ChainSubsets],
    shapes: dict[str, Any],
    digits: dict[str, ImageSet],
    seeds: dict[str, list[int]],
    data: DataParams,
    compute: ComputeParams,
    distill: Distill,
) -> dict[str, dict[str, SynthesisRecord]]:
    """``{"<dataset>/<seed>": {"<variant>/<ipc>": synthesis}}``; variants zero_shot, few_shot (+ ``_primal`` ablations)."""
    apply_runtime(compute.device, compute.threads)
    keys, jobs = [], []
    for name, listed in seeds.items():
        splits = load_splits(name, shapes, digits, data)
        for seed in listed:
            chain = Chain(name, seed)
            teacher, shots = TeacherState.of(teachers, chain), subsets[str(chain)]["random"]
            for key, job in synthesis_jobs(chain, splits, teacher, shots, distill, distill.ipc, distill.primal_only_at):
                keys.append((chain, key))
                jobs.append(job)
    results = run_jobs(
        synthesize_job,
        [(job,) for job in jobs],
        workers=compute.workers,
        cost=lambda job: len(job[0].labels),
        desc="dsv synthesis",
    )
    return collect_syntheses(keys, results)
