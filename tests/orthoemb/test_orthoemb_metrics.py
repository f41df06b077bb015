"""orthoemb's metrics from per-seed judged scores: rates over seeds and pooled, references, pixel changes."""

import pytest

from revis.orthoemb.metrics import arm_rates, orthoemb_metrics
from revis.reporting.results import to_json


def _scores(identity, leakage, has_other, fidelity):
    ones = [1] * len(identity)
    return {
        "identity": identity,
        "colour_shape": identity,
        "leakage": leakage,
        "compliance": ones,
        "fidelity": fidelity,
        "has_other": has_other,
    }


PER_SEED = {
    "0": {
        "scores": {"visual": _scores([1, 1, 0, 0], [1, 0, 0, 0], [True, False, True, False], [1, 0, 0, 0])},
        "change_from_visual": {"full": 2.0},
        "references": {"identity": [1, 1, 1, 0], "leakage": [1, 1, 1, 1]},
    },
    "1": {
        "scores": {"visual": _scores([1, 1, 1, 1], [1, 1, 0, 0], [True, True, False, False], [1, 1, 0, 0])},
        "change_from_visual": {"full": 4.0, "swap": 1.0},
        "references": {"identity": [1, 1, 1, 1], "leakage": [0, 1, 1, 1]},
    },
}


def test_arm_rates_over_seeds_and_pooled():
    over_seeds, pooled = arm_rates(PER_SEED, "visual", [0, 1])
    assert over_seeds["identity"]["values"] == [0.5, 1.0] and over_seeds["identity"]["seeds"] == [0, 1]
    assert over_seeds["tradeoff"]["values"] == [0.5 - 0.25, 1.0 - 0.5]
    assert "tradeoff" not in pooled
    # fidelity only over the cases with a second object: 1/2 on seed 0, 2/2 on seed 1
    assert over_seeds["fidelity"]["values"] == [0.5, 1.0]
    assert (pooled["fidelity"]["successes"], pooled["fidelity"]["trials"]) == (3, 4)
    assert (pooled["leakage"]["successes"], pooled["leakage"]["trials"]) == (3, 8)


def test_orthoemb_metrics():
    results = {"per_seed": PER_SEED, "residual": {"full": 1e-7, "mean_direction": 0.01, "visual": 0.4}}
    losses = {"0": [2.0] * 5 + [1.0] * 20, "1": [3.0] * 20}
    metrics = to_json(orthoemb_metrics(results, losses, ["visual"], "scale"))
    assert metrics["references"]["identity"]["successes"] == 7 and metrics["references"]["leakage"]["trials"] == 8
    # a fix counts only where every seed measured it
    assert set(metrics["change_from_visual"]) == {"full"}
    assert metrics["change_from_visual"]["full"]["mean"] == pytest.approx(3.0)
    assert metrics["training"]["final_loss"]["values"] == [1.0, 3.0]
    assert metrics["orthogonality"]["full"] < 1e-6 < metrics["orthogonality"]["visual"]
