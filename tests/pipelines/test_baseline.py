"""The ``baseline`` pipeline wired in memory (fast): typed parameters in, metrics and a picture out."""

import numpy as np
import pytest

from revis.datasets.imageset import ImageSet
from revis.reporting.results import to_json
from revis.reporting.summary import majority_class_rate
from revis.world.shapes import generate_shapes


@pytest.fixture(scope="module")
def tiny_world():
    shapes = {"train": generate_shapes(40, seed=1), "test": generate_shapes(20, seed=2)}
    rng = np.random.default_rng(0)
    digits = {
        split: ImageSet(
            images=rng.integers(0, 255, (n, 8, 8, 1), dtype=np.uint8),
            labels=np.arange(n) % 10,
            class_names=[str(i) for i in range(10)],
        )
        for split, n in (("train", 40), ("test", 20))
    }
    return shapes, digits


def test_train_and_evaluate_in_memory(run_in_memory, tiny_params, tiny_world):
    shapes, digits = tiny_world
    params = {
        "baseline": {
            **tiny_params["baseline"],
            "datasets": ["shapes", "digits"],
            "seeds": [0, 1],
            "batch_size": 16,
            "lr": 0.02,
            "momentum": 0.9,
            "weight_decay": 0.0005,
        }
    }
    out = run_in_memory("baseline", {"world.shapes": shapes, "world.digits": digits}, params)
    metrics = to_json(out["baseline.metrics"])
    histories = out["baseline.histories"]
    assert set(histories) == {f"{name}/seed{s}" for name in ("shapes", "digits") for s in (0, 1)}
    for name in ("shapes", "digits"):
        accuracy = metrics[name]["test_accuracy"]
        assert accuracy["n"] == 2 and accuracy["seeds"] == [0, 1] and len(accuracy["values"]) == 2
        assert 0 <= accuracy["mean"] <= 1 and all(0 <= v <= 1 for v in accuracy["values"])
        final = metrics[name]["final_train_accuracy"]["values"]
        assert final == [histories[f"{name}/seed{s}"]["accuracy"][-1] for s in (0, 1)]
        train = tiny_world[name == "digits"]["train"]
        assert metrics[name]["chance"] == np.bincount(train.labels).max() / len(train.labels)
    assert metrics["digits"]["chance"] == pytest.approx(0.1)  # chance for this label distribution
    assert "2 seeds" in metrics["scale"]
    loss = out["baseline.curve_train_loss"]
    assert [row["epoch"] for row in loss] == [1] and set(loss[0]) == {"epoch", "shapes", "digits"}


def test_majority_class_rate_counts_the_most_frequent_label():
    assert majority_class_rate(np.array([0, 1, 1, 2]), 3) == 0.5
    assert majority_class_rate(np.array([3, 3, 3]), 5) == 1.0
