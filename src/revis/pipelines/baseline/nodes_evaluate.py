"""``baseline-evaluate``: test accuracy per dataset over seeds, training curves (a picture and DVC plot data)."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt

from revis.datasets.imageset import ImageSet
from revis.datasets.named import named_splits
from revis.models import build_model
from revis.reporting.summary import mean_std
from revis.training import accuracy
from revis.training.histories import mean_curves
from revis.training.pictures import training_curves_figure


def evaluate_baselines(
    checkpoints: dict[str, Any], histories: dict[str, Any], shapes: dict[str, Any], digits: dict[str, ImageSet]
) -> tuple[dict[str, Any], plt.Figure]:
    """Test accuracy per dataset, mean ± sd over seeds (with the per-seed values); training curves."""
    loaded = {"shapes": shapes, "digits": digits}
    per_dataset: dict[str, dict[int, float]] = {}
    for run in checkpoints["runs"].values():
        _, test = named_splits(run["dataset"], loaded)
        net = build_model(checkpoints["model"], *run["shape"])
        net.load_state_dict(run["state_dict"])
        per_dataset.setdefault(run["dataset"], {})[run["seed"]] = accuracy(net, *test.tensors())
    metrics: dict[str, Any] = {}
    for name, by_seed in per_dataset.items():
        train, _ = named_splits(name, loaded)
        seeds = sorted(by_seed)
        metrics[name] = {
            "test_accuracy": mean_std([by_seed[s] for s in seeds], seeds),
            "chance": chance_accuracy(train.labels, train.num_classes),
            "final_train_accuracy": mean_std([histories[f"{name}/seed{s}"]["accuracy"][-1] for s in seeds], seeds),
        }
    m = checkpoints["model"]
    sizes = ", ".join(f"{n} {len(named_splits(n, loaded)[0])} train" for n in per_dataset)
    n_seeds = max(len(v) for v in per_dataset.values())
    metrics["scale"] = f"mini world CPU: {sizes}; {m['name']} w{m['width']} d{m['depth']}; {n_seeds} seeds"
    return metrics, training_curves_figure(histories, "baseline ConvNet: training curves per dataset and seed")


def training_curve_tables(histories: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Training loss and accuracy per epoch, mean over seeds, one column per dataset (DVC plot data)."""
    return mean_curves(histories, "loss"), mean_curves(histories, "accuracy")


def chance_accuracy(labels: Any, num_classes: int) -> float:
    """Accuracy of always predicting the most frequent training class (chance for this label distribution)."""
    import numpy as np

    counts = np.bincount(np.asarray(labels), minlength=num_classes)
    return float(counts.max() / counts.sum())
