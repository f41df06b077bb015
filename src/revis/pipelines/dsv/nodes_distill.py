"""``dsv-distill``: Deep Support Vectors per (dataset, seed): 0-shot from noise, few-shot from the seed's random shots."""

from __future__ import annotations

from typing import Any

import torch

from revis.curves import curve_key, log_curve
from revis.datasets.imageset import ImageSet
from revis.distill.config import RuntimeParams
from revis.distill.data import DataParams, load_splits
from revis.kkt.synthesis import noise_candidates, synthesize_job
from revis.pipelines.dsv.params import Distill
from revis.runtime import apply_runtime
from revis.workers import run_jobs


def synthesize_dsvs(
    teachers: dict[str, Any],
    subsets: dict[str, Any],
    shapes: dict[str, Any],
    digits: dict[str, ImageSet],
    data: DataParams,
    runtime: RuntimeParams,
    distill: Distill,
) -> dict[str, Any]:
    """``{"<dataset>/<seed>": {"<variant>/<ipc>": synthesis}}``; variants zero_shot, few_shot (+ ``_primal`` ablations)."""
    apply_runtime(runtime.device, runtime.threads)
    jobs, keys = [], []
    for name, choice in data.datasets.items():
        splits = load_splits(name, shapes, digits, data)
        for seed in choice.seeds:
            run = teachers["runs"][f"{name}/{seed}"]
            for ipc in distill.ipc:
                shots = torch.tensor(subsets[f"{name}/{seed}"]["random"][str(ipc)])
                noise_labels = torch.arange(splits.num_classes).repeat_interleave(ipc)
                starts = {
                    "zero_shot": (noise_candidates(noise_labels, tuple(splits.x_train.shape[1:]), seed), noise_labels),
                    "few_shot": (splits.x_train[shots], splits.y_train[shots]),
                }
                for variant, (x_init, labels) in starts.items():
                    for primal_only in (False, True) if ipc in distill.primal_only_at else (False,):
                        keys.append((f"{name}/{seed}", f"{variant}{'_primal' if primal_only else ''}/{ipc}"))
                        jobs.append(
                            {
                                "model": teachers["model"],
                                "shape": run["shape"],
                                "state_dict": run["state_dict"],
                                "weight_decay": run["weight_decay"],
                                "example": splits.x_train[:4],
                                "x_init": x_init,
                                "labels": labels,
                                "bounds": splits.bounds(),
                                "params": distill,
                                "primal_only": primal_only,
                                "seed": seed,
                            }
                        )
    results = run_jobs(
        synthesize_job,
        [(job,) for job in jobs],
        workers=runtime.workers,
        cost=lambda job: len(job[0]["labels"]),
        desc="dsv synthesis",
    )
    out: dict[str, Any] = {}
    for (chain, key), result in zip(keys, results):
        out.setdefault(chain, {})[key] = result
        for step, value in enumerate(result["history"]["stat"]):
            log_curve(
                {"stat": value},
                step,
                curve_key(f"{chain.split('/')[0]}.{key.replace('/', '.ipc')}", chain.split("/")[1]),
            )
    return out
