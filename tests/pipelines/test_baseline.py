"""The ``baseline`` pipeline wired in memory (fast): typed parameters in, metrics and a picture out."""

import numpy as np
import pytest

from revis.datasets.imageset import ImageSet
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
    metrics = out["baseline.metrics"]
    assert set(out) == {
        "baseline.models",
        "baseline.histories",
        "baseline.metrics",
        "baseline.plot_training_curves",
        "baseline.curve_train_loss",
        "baseline.curve_train_accuracy",
    }
    for name in ("shapes", "digits"):
        accuracy = metrics[name]["test_accuracy"]
        assert accuracy["n"] == 2 and accuracy["seeds"] == [0, 1] and len(accuracy["values"]) == 2
        assert 0 <= accuracy["mean"] <= 1 and 0 < metrics[name]["chance"] < 1
    assert metrics["digits"]["chance"] == pytest.approx(0.1)  # chance for this label distribution
    assert "2 seeds" in metrics["scale"]


def test_bad_parameters_fail_before_the_nodes_run(run_in_memory, tiny_world):
    from kedro.validation.exceptions import ParameterValidationError

    shapes, digits = tiny_world
    with pytest.raises((ParameterValidationError, ValueError), match="epochs"):
        run_in_memory(
            "baseline",
            {"world.shapes": shapes, "world.digits": digits},
            {
                "baseline": {
                    "datasets": ["shapes"],
                    "seeds": [0],
                    "model": {"name": "convnet"},
                    "epochs": 0,
                    "batch_size": 8,
                    "lr": 0.1,
                }
            },
        )
