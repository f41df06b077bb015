"""``dkkt-distill``: from each visible fraction, per chain seed: random, DM, DM + Deep-KKT, DSV, DM ∪ DSV and 2·ipc sets."""

from __future__ import annotations

from typing import Any

import torch

from revis.curves import curve_key, log_curve
from revis.datasets.imageset import ImageSet
from revis.distill.config import EvalProtocol, RuntimeParams, dm_for, protocol_for
from revis.distill.data import DataParams, load_splits
from revis.distill.dm import dm_job
from revis.distill.partial import fraction_key, ordered, partial_indices
from revis.kkt.real import random_per_class
from revis.kkt.synthesis import dm_dkkt_chosen_job, synthesize_job
from revis.pipelines.dkkt.params import Distill, PartialDatasets
from revis.runtime import apply_runtime
from revis.workers import run_jobs


def visible_subsets(
    shapes: dict[str, Any], digits: dict[str, ImageSet], data: DataParams, datasets: PartialDatasets
) -> dict[str, Any]:
    """The visible subset per dataset, seed and fraction (indices into the training split)."""
    out = {}
    for name, partial in datasets.items():
        if name not in data.datasets:
            raise KeyError(
                f"dkkt.datasets.{name}: dsv trains no teacher on it (dsv.data.datasets has {sorted(data.datasets)})"
            )
        y = load_splits(name, shapes, digits, data).y_train
        for seed in partial.seeds:
            out[f"{name}/{seed}"] = {
                fraction_key(f): partial_indices(y, f, seed).tolist() for f in sorted(partial.fractions)
            }
    return out


def distill_partial(
    teachers: dict[str, Any],
    shapes: dict[str, Any],
    digits: dict[str, ImageSet],
    data: DataParams,
    datasets: PartialDatasets,
    runtime: RuntimeParams,
    distill: Distill,
    evaluation: EvalProtocol,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The visible subsets, and per (dataset, seed, fraction, ipc) every method's set (λ_dkkt chosen per run)."""
    apply_runtime(runtime.device, runtime.threads)
    visible = visible_subsets(shapes, digits, data, datasets)
    jobs: list[tuple[str, Any, dict]] = []  # (runner, key, job)
    plan: dict[str, Any] = {}
    for name, partial in datasets.items():
        splits = load_splits(name, shapes, digits, data)
        k = splits.num_classes
        for seed in partial.seeds:
            chain = f"{name}/{seed}"
            if f"{name}/{seed}" not in teachers["runs"]:
                raise KeyError(f"dkkt.datasets.{name}.seeds: dsv has no teacher for seed {seed} (add it to dsv.data)")
            run = teachers["runs"][chain]
            teacher = {
                "model": teachers["model"],
                "shape": run["shape"],
                "state_dict": run["state_dict"],
                "weight_decay": run["weight_decay"],
            }
            plan[chain] = {"visible": {}, "sets": {}, "shape": list(splits.shape)}
            for fraction in ordered(visible[chain]):
                index = torch.tensor(visible[chain][fraction])
                px, py = splits.x_train[index], splits.y_train[index]
                per_class = int(torch.bincount(py, minlength=k).min())
                plan[chain]["visible"][fraction] = len(index)
                for ipc in sorted(distill.ipc):
                    if 2 * ipc > per_class:  # the 2·ipc sets start from 2·ipc visible images per class
                        continue
                    key = f"{fraction}/{ipc}"
                    start = random_per_class(py, 2 * ipc, seed)  # the first ipc of each class are the ipc start
                    first = torch.cat([start[py[start] == c][:ipc] for c in range(k)])
                    sets = {"random": (px[first], py[first]), "random_x2": (px[start], py[start])}
                    plan[chain]["sets"][key] = sets
                    dm = {
                        "real_x": px,
                        "real_y": py,
                        "config": dm_for(name, distill.dm),
                        "num_classes": k,
                        "seed": seed,
                    }
                    kkt = {
                        **dm,
                        **teacher,
                        "term": distill.dkkt,
                        "grid": distill.dkkt.grid,
                        "validation_share": distill.dkkt.validation_share,
                        "protocol": protocol_for(name, evaluation),
                        "image_shape": tuple(splits.shape),
                        "init_index": first,
                    }
                    dsv = {
                        **teacher,
                        "example": px[:4],
                        "bounds": splits.bounds(),
                        "params": _synthesis(distill),
                        "primal_only": False,
                        "seed": seed,
                    }
                    for method, (x0, y0) in (("", sets["random"]), ("_x2", sets["random_x2"])):
                        jobs.append(("dm", (chain, key, f"dm{method}"), {**dm, "init": x0, "labels": y0}))
                        jobs.append(("dsv", (chain, key, f"dsv{method}"), {**dsv, "x_init": x0, "labels": y0}))
                    x0, y0 = sets["random"]
                    jobs.append(("dm_dkkt", (chain, key, "dm_dkkt"), {**kkt, "init": x0, "labels": y0}))
    results = run_jobs(
        _run,
        [(runner, job) for runner, _, job in jobs],
        workers=runtime.workers,
        cost=lambda job: (3.0 * (1 + len(job[1]["grid"])) if job[0] == "dm_dkkt" else 1.0) * len(job[1]["labels"]),
        desc="dkkt distillation",
    )
    for (runner, (chain, key, method), _), result in zip(jobs, results):
        plan[chain]["sets"][key][method] = (result["images"], result["labels"])
        guard = {"guard": result["guard"]} if "guard" in result else {}  # DSV syntheses return it apart
        plan[chain].setdefault("histories", {}).setdefault(key, {})[method] = {**result["history"], **guard}
        if runner != "dsv":
            for step, value in enumerate(result["history"]["dm"]):
                log_curve(
                    {"dm": value},
                    step,
                    curve_key(f"{chain.split('/')[0]}.{key.replace('/', '.ipc')}.{method}", chain.split("/")[1]),
                )
    for entry in plan.values():
        for sets in entry["sets"].values():
            (dx, dy), (sx, sy) = sets["dm"], sets["dsv"]
            sets["union"] = (torch.cat([dx, sx]), torch.cat([dy, sy]))
    return visible, {
        chain: {
            "visible": entry["visible"],
            "shape": entry["shape"],
            "sets": {
                key: {m: {"images": x, "labels": y} for m, (x, y) in sets.items()}
                for key, sets in entry["sets"].items()
            },
            "histories": entry.get("histories", {}),
        }
        for chain, entry in plan.items()
    }


def _synthesis(distill: Distill):
    """The DSV synthesis settings: the DKKT term's objective with dsv's steps and image learning rate."""
    from revis.kkt.config import SynthesisParams

    term = distill.dkkt.model_dump(exclude={"grid", "validation_share"})
    return SynthesisParams.model_validate({**term, **distill.dsv.model_dump()})


def _run(runner: str, job: dict) -> dict:
    return {"dm": dm_job, "dm_dkkt": dm_dkkt_chosen_job, "dsv": synthesize_job}[runner](job)
