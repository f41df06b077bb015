"""Nodes of the ``baseline`` pipeline."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import torch

from revis.datasets.imageset import ImageSet
from revis.models import ModelConfig, build_model
from revis.reporting.summary import mean_std
from revis.training import TrainConfig, accuracy, train_classifier


def _splits(name: str, shapes: dict[str, Any], digits: dict[str, ImageSet]) -> tuple[ImageSet, ImageSet]:
    source = {"shapes": shapes, "digits": digits}[name]
    return source["train"], source["test"]


def train_baselines(
    shapes: dict[str, Any],
    digits: dict[str, ImageSet],
    datasets: list[str],
    seeds: list[int],
    model: dict[str, Any],
    epochs: int,
    batch_size: int,
    lr: float,
    momentum: float,
    weight_decay: float,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train one ConvNet per (dataset, seed); return self-describing checkpoints and histories."""
    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, momentum=momentum, weight_decay=weight_decay)
    model_config = ModelConfig.model_validate(model)
    checkpoints: dict[str, Any] = {"model": model_config.model_dump(), "runs": {}}
    histories: dict[str, Any] = {}
    for name in datasets:
        train, _ = _splits(name, shapes, digits)
        x, y = train.tensors()
        for seed in seeds:
            torch.manual_seed(seed)
            net = build_model(model_config, train.channels, train.num_classes, train.image_size)
            history = train_classifier(net, x, y, config, seed, desc=f"{name} seed {seed}")
            run = f"{name}/seed{seed}"
            checkpoints["runs"][run] = {
                "dataset": name,
                "seed": seed,
                "state_dict": net.state_dict(),
                "shape": [train.channels, train.num_classes, train.image_size],
            }
            histories[run] = history.to_dict()
    return checkpoints, histories


def evaluate_baselines(
    checkpoints: dict[str, Any], histories: dict[str, Any], shapes: dict[str, Any], digits: dict[str, ImageSet]
) -> tuple[dict[str, Any], plt.Figure]:
    """Test accuracy per dataset, mean +- std over seeds; training curves."""
    per_dataset: dict[str, list[float]] = {}
    for run in checkpoints["runs"].values():
        _, test = _splits(run["dataset"], shapes, digits)
        net = build_model(checkpoints["model"], *run["shape"])
        net.load_state_dict(run["state_dict"])
        per_dataset.setdefault(run["dataset"], []).append(accuracy(net, *test.tensors()))
    metrics: dict[str, Any] = {}
    for name, accs in per_dataset.items():
        train, test = _splits(name, shapes, digits)
        metrics[name] = {
            "test_accuracy": mean_std(accs),
            "chance": 1.0 / train.num_classes,
            "final_train_accuracy": mean_std(
                [h["accuracy"][-1] for r, h in histories.items() if r.startswith(f"{name}/")]
            ),
        }
    m = checkpoints["model"]
    sizes = ", ".join(f"{n} {len(_splits(n, shapes, digits)[0])} train" for n in per_dataset)
    metrics["scale"] = f"mini world CPU: {sizes}; {m['name']} w{m['width']} d{m['depth']}; {len(accs)} seeds"
    return metrics, _curves(histories)


def _curves(histories: dict[str, Any]) -> plt.Figure:
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.2))
    for run, history in sorted(histories.items()):
        ax_loss.plot(history["loss"], label=run, lw=1)
        ax_acc.plot(history["accuracy"], label=run, lw=1)
    ax_loss.set(xlabel="epoch", ylabel="train loss", yscale="log")
    ax_acc.set(xlabel="epoch", ylabel="train accuracy")
    ax_acc.legend(fontsize=6, ncol=2)
    fig.suptitle("baseline ConvNet: training curves per dataset and seed", fontsize=10)
    fig.tight_layout()
    return fig
