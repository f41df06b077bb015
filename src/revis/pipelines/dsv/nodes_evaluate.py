"""``dsv-evaluate``: test accuracy of every set over chain seeds, the KKT diagnostics, pictures."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt

from revis.config.runtime import ComputeParams
from revis.datasets.imageset import ImageSet
from revis.distill.config import EvalProtocol
from revis.distill.data import DataParams, load_splits
from revis.distill.evaluation import EvaluationNetworks
from revis.kkt.artifacts import ChainLambdas, SynthesisRecord
from revis.kkt.dsv import dsv_scale, evaluate_dataset
from revis.kkt.pictures import dsv_figures
from revis.kkt.teacher import TeacherBundle
from revis.runtime import apply_runtime


def report_metrics(
    networks: EvaluationNetworks,
    teachers: TeacherBundle,
    lambdas: dict[str, ChainLambdas],
    dsvs: dict[str, dict[str, SynthesisRecord]],
    shapes: dict[str, Any],
    digits: dict[str, ImageSet],
    seeds: dict[str, list[int]],
    data: DataParams,
    compute: ComputeParams,
    evaluation: EvalProtocol,
) -> tuple[dict[str, Any], plt.Figure, plt.Figure, plt.Figure, plt.Figure]:
    """metrics.json and the pictures: DSV grids, entropy / stationarity curves, λ per class, accuracies."""
    apply_runtime(compute.device, compute.threads)
    metrics: dict[str, Any] = {}
    pictures, chance, train_sizes = {}, {}, {}
    for name, listed in seeds.items():
        splits = load_splits(name, shapes, digits, data)
        args = (networks["networks"], evaluation, teachers, lambdas, dsvs)
        metrics[name], pictures[name] = evaluate_dataset(name, listed, splits, *args)
        chance[name], train_sizes[name] = metrics[name].chance, len(splits.y_train)
    metrics["scale"] = dsv_scale(teachers["model"], evaluation, seeds, train_sizes, data)
    grids, curves, lam, bars = dsv_figures(pictures, chance)
    return metrics, grids, curves, lam, bars
