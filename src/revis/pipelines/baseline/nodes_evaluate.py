"""``baseline-evaluate``: test accuracy per dataset over seeds, training curves (a picture and DVC plot data)."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt

from revis.datasets.imageset import ImageSet
from revis.training.histories import mean_curves
from revis.training.metrics import DatasetAccuracy, summarize_baselines
from revis.training.pictures import training_curves_figure


def report_metrics(
    checkpoints: dict[str, Any], histories: dict[str, Any], shapes: dict[str, Any], digits: dict[str, ImageSet]
) -> tuple[dict[str, DatasetAccuracy | str], plt.Figure]:
    """Test accuracy per dataset, mean ± sd over seeds (with the per-seed values); training curves."""
    metrics = summarize_baselines(checkpoints, histories, {"shapes": shapes, "digits": digits})
    return metrics, training_curves_figure(histories, "baseline ConvNet: training curves per dataset and seed")


def training_curve_tables(histories: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Training loss and accuracy per epoch, mean over seeds, one column per dataset (DVC plot data)."""
    return mean_curves(histories, "loss"), mean_curves(histories, "accuracy")
