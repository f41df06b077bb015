"""The metrics of the baseline classifiers (``reports/baseline/metrics.json``): test accuracy per dataset
over seeds, beside chance and the final training accuracy; serialized by ``revis.reporting.results.to_json``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from revis.datasets.imageset import ImageSet
from revis.datasets.named import named_splits
from revis.models import build_model
from revis.reporting.summary import majority_class_rate, mean_std, mean_std_by_seed
from revis.training.trainer import accuracy

Sample = dict[str, Any]  # mean_std's summary: mean, std, n, values, seeds


@dataclass(frozen=True)
class DatasetAccuracy:
    """One dataset's classifiers over seeds: test accuracy, chance (the training split's majority class rate)
    and the last epoch's training accuracy."""

    test_accuracy: Sample
    chance: float
    final_train_accuracy: Sample


def seed_accuracies(checkpoints: dict[str, Any], loaded: dict[str, dict[str, Any]]) -> dict[str, dict[int, float]]:
    """Test accuracy of every run of self-describing ``checkpoints``: ``{dataset: {seed: accuracy}}``, datasets
    in the order of the runs."""
    per_dataset: dict[str, dict[int, float]] = {}
    for run in checkpoints["runs"].values():
        _, test = named_splits(run["dataset"], loaded)
        net = build_model(checkpoints["model"], *run["shape"])
        net.load_state_dict(run["state_dict"])
        per_dataset.setdefault(run["dataset"], {})[run["seed"]] = accuracy(net, *test.tensors())
    return per_dataset


def dataset_accuracy(
    name: str, by_seed: Mapping[int, float], train: ImageSet, histories: Mapping[str, Any]
) -> DatasetAccuracy:
    """``histories`` keyed ``<dataset>/seed<seed>`` (``train_classifier``'s histories)."""
    seeds = sorted(by_seed)
    return DatasetAccuracy(
        test_accuracy=mean_std_by_seed(by_seed),
        chance=majority_class_rate(train.labels, train.num_classes),
        final_train_accuracy=mean_std([histories[f"{name}/seed{s}"]["accuracy"][-1] for s in seeds], seeds),
    )


def summarize_baselines(
    checkpoints: dict[str, Any], histories: Mapping[str, Any], loaded: dict[str, dict[str, Any]]
) -> dict[str, DatasetAccuracy | str]:
    """metrics.json: per dataset its ``DatasetAccuracy``; ``scale``: what was trained, in words."""
    per_dataset = seed_accuracies(checkpoints, loaded)
    metrics: dict[str, DatasetAccuracy | str] = {
        name: dataset_accuracy(name, by_seed, named_splits(name, loaded)[0], histories)
        for name, by_seed in per_dataset.items()
    }
    m = checkpoints["model"]
    sizes = ", ".join(f"{n} {len(named_splits(n, loaded)[0])} train" for n in per_dataset)
    n_seeds = max(len(v) for v in per_dataset.values())
    metrics["scale"] = f"mini world CPU: {sizes}; {m['name']} w{m['width']} d{m['depth']}; {n_seeds} seeds"
    return metrics
