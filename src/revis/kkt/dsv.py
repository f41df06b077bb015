"""The Deep Support Vectors experiment (dsv): the syntheses per chain as typed worker jobs, and each dataset's
evaluation (metrics and pictures).

A chain is a (dataset, seed) (``revis.distill.chain.Chain``); artifacts key chains by
``str(chain)``. Per chain and ipc, DSVs are synthesized from noise (``zero_shot``) and from the
chain's random real subset of ipc per class (``few_shot``), and at the ipc of
``primal_only_at`` once more without the stationarity term (``<variant>_primal``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

from revis.curves import curve_key, log_curve
from revis.datasets.named import Splits
from revis.distill.chain import Chain
from revis.distill.config import DataParams, EvalProtocol
from revis.distill.evaluation import score_networks
from revis.kkt.artifacts import SynthesisRecord
from revis.kkt.config import SynthesisParams
from revis.kkt.metrics import RETRAIN, DSVDatasetMetrics, correlations, dataset_metrics, teacher_seed
from revis.kkt.pictures import DSVPictures, dsv_grid_row, lambda_panel, retrain_bars, synthesis_curves
from revis.kkt.synthesis import SynthesisJob, noise_candidates
from revis.kkt.teacher import TeacherBundle, TeacherState, teacher_network
from revis.reporting.summary import majority_class_rate
from revis.training import predict_logits


def synthesis_jobs(
    chain: Chain,
    splits: Splits,
    teacher: TeacherState,
    shots: dict[str, list[int]],
    params: SynthesisParams,
    ipc: Sequence[int],
    primal_only_at: Sequence[int],
) -> list[tuple[str, SynthesisJob]]:
    """``(<variant>/<ipc>, job)`` of one chain; ``shots``: the chain's random subset indices per ``"<ipc>"``."""
    jobs = []
    for size in ipc:
        index = torch.tensor(shots[str(size)])
        noise_labels = torch.arange(splits.num_classes).repeat_interleave(size)
        c, h, w = splits.x_train.shape[1:]
        starts = {
            "zero_shot": (noise_candidates(noise_labels, (c, h, w), chain.seed), noise_labels),
            "few_shot": (splits.x_train[index], splits.y_train[index]),
        }
        for variant, (x_init, labels) in starts.items():
            for primal_only in (False, True) if size in primal_only_at else (False,):
                key = f"{variant}{'_primal' if primal_only else ''}/{size}"
                job = SynthesisJob(
                    teacher, splits.x_train[:4], x_init, labels, splits.bounds(), params, primal_only, chain.seed
                )
                jobs.append((key, job))
    return jobs


def collect_syntheses(
    keys: Iterable[tuple[Chain, str]], results: Iterable[SynthesisRecord]
) -> dict[str, dict[str, SynthesisRecord]]:
    """``{"<dataset>/<seed>": {"<variant>/<ipc>": synthesis}}`` (``dsv.dsvs``); each stationarity curve logged."""
    out: dict[str, dict[str, SynthesisRecord]] = {}
    for (chain, key), result in zip(keys, results):
        out.setdefault(str(chain), {})[key] = result
        for step, value in enumerate(result["history"]["stat"]):
            log_curve({"stat": value}, step, curve_key(*chain.curve(key.replace("/", ".ipc"))))
    return out


def real_subset_keys(networks: Mapping[str, Any], name: str, seed: int) -> list[str]:
    """The real-subset keys ``<kind>/<k>/<seed>`` (top-λ and random) trained for one chain."""
    prefix = f"{name}/"
    keys = []
    for key in networks:
        if key.startswith(prefix) and key.endswith(f"/{seed}"):
            kind = key[len(prefix) :].split("/")[0]
            if kind in RETRAIN:
                keys.append(key[len(prefix) :])
    return keys


def evaluate_dataset(
    name: str,
    seeds: Sequence[int],
    splits: Splits,
    networks: Mapping[str, Any],
    protocol: EvalProtocol,
    teachers: TeacherBundle,
    lambdas: Mapping[str, Any],
    dsvs: Mapping[str, Any],
) -> tuple[DSVDatasetMetrics, DSVPictures]:
    """One dataset's metrics and pictures: every set of every chain retrained and scored (an empty set, all
    pruned, scores the constant guess), the teachers and λ fits, the syntheses."""
    chance = majority_class_rate(splits.y_test, splits.num_classes)
    runs = {seed: dsvs[str(Chain(name, seed))] for seed in seeds}
    keys = [key for s in seeds for key in (*real_subset_keys(networks, name, s), *(f"{v}/{s}" for v in runs[s]))]
    accuracies = score_networks(networks, keys, f"{name}/", protocol, splits.x_test, splits.y_test, chance)
    teacher = {}
    for seed in seeds:
        chain = Chain(name, seed)
        logits = predict_logits(teacher_network(teachers, chain), splits.x_test)
        run, fit = teachers["runs"][str(chain)], lambdas[str(chain)]
        teacher[seed] = teacher_seed(logits, splits.y_test, run, fit, splits.num_classes)
    metrics = dataset_metrics(chance, accuracies, teacher, runs)
    first = teacher[seeds[0]]
    rho = correlations({seeds[0]: first})["spearman"].get(seeds[0])
    pictures = DSVPictures(
        lambda_panel(splits, first.lambda_sum, first.class_accuracy, rho, lambdas[str(Chain(name, seeds[0]))]),
        dsv_grid_row(name, splits, runs[seeds[0]]),
        synthesis_curves(name, runs[seeds[0]]),
        retrain_bars(dict(sorted({**metrics.retrain, **metrics.dsv}.items()))),
    )
    return metrics, pictures


def dsv_scale(
    teacher: Mapping[str, Any],
    protocol: EvalProtocol,
    seeds: Mapping[str, Sequence[int]],
    train_sizes: Mapping[str, int],
    data: DataParams,
) -> str:
    """metrics.json's ``scale``: the data sizes, the teacher, the evaluation networks, the seeds."""
    counts = ", ".join(f"{n} {len(listed)}" for n, listed in seeds.items())
    sizes = ", ".join(
        f"{n} {train_sizes[n]} train" + (f" at {size} px" if (size := data.image_size_of(n)) else "") for n in seeds
    )
    t, m = teacher, protocol.model
    return (
        f"mini world CPU: {sizes}; teacher {t['name']} w{t['width']} d{t['depth']} {t['norm']}; evaluation "
        f"{m.name} w{m.width}, {protocol.epochs} epochs; whole-chain seeds: {counts}"
    )
