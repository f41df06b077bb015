"""``dkkt-evaluate``: accuracy per method, fraction and ipc over chain seeds; DM's loss curves; pictures."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt

from revis.config.runtime import ComputeParams
from revis.datasets.imageset import ImageSet
from revis.distill.artifacts import DistilledChain
from revis.distill.config import EvalProtocol
from revis.distill.data import DataParams, load_splits
from revis.distill.evaluation import EvaluationNetworks
from revis.distill.partial_experiment import evaluate_dataset, partial_scale
from revis.distill.pictures import partial_figures
from revis.runtime import apply_runtime


def report_metrics(
    networks: EvaluationNetworks,
    distilled: dict[str, DistilledChain],
    shapes: dict[str, Any],
    digits: dict[str, ImageSet],
    seeds: dict[str, list[int]],
    data: DataParams,
    compute: ComputeParams,
    evaluation: EvalProtocol,
) -> tuple[dict[str, Any], plt.Figure, plt.Figure, plt.Figure]:
    """metrics.json (per method, fraction and ipc; DKKT gains; DM's loss) and the pictures."""
    apply_runtime(compute.device, compute.threads)
    metrics: dict[str, Any] = {}
    pictures, chance = {}, {}
    for name, listed in seeds.items():
        splits = load_splits(name, shapes, digits, data)
        metrics[name], pictures[name] = evaluate_dataset(
            name, listed, splits, networks["networks"], evaluation, distilled
        )
        chance[name] = metrics[name].chance
    metrics["scale"] = partial_scale(evaluation, seeds)
    grids, bars, curves = partial_figures(pictures, {name: listed[0] for name, listed in seeds.items()}, chance)
    return metrics, grids, bars, curves
