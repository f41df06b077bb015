"""MERLIN's conditions and metrics on hand-made ranks (revis.retrieval.experiment, revis.retrieval.metrics)."""

import pytest
import torch

from revis.reporting.results import to_json
from revis.retrieval.experiment import Condition, LoopSettings, Simulation, conditions
from revis.retrieval.metrics import merlin_metrics, zero_shot_metrics


def test_conditions_cross_questioners_conventions_and_noise_then_the_control():
    arms = conditions(["rule", "entropy"], ["answer"], [0.0, 0.2], control=True)
    assert [a.name for a in arms] == [
        "rule_answer_noise0",
        "rule_answer_noise20",
        "entropy_answer_noise0",
        "entropy_answer_noise20",
        "control_rule_answer",
    ]
    assert arms[-1] == Condition("control_rule_answer", "rule", "answer", 0.0, True)
    assert to_json(arms[1]) == {
        "name": "rule_answer_noise20",
        "questioner": "rule",
        "convention": "answer",
        "noise": 0.2,
        "control": False,
    }


def test_rounds_gains_and_vagueness_from_hand_made_ranks():
    # 2 seeds x 3 queries (vagueness 1, 1, 2), gallery of 20; round 0 -> round 1
    ranks = {"seed0": [[2, 1, 15], [1, 1, 3]], "seed1": [[1, 4, 20], [1, 2, 20]]}
    simulation = Simulation(
        ranks={"rule": ranks},
        asked={"rule": [1.0, 0.5]},
        levels={"seed0": [1, 1, 2], "seed1": [1, 1, 2]},
        pooling_other=[{"r1": 10.0, "r10": 50.0}, {"r1": 30.0, "r10": 70.0}],
    )
    settings = LoopSettings(rounds=1, alpha=0.8, top_k=10, user_restates=False, on_error="skip")
    metrics = merlin_metrics(simulation, [0, 1], settings, "mean", "rule", gallery=20)
    r1 = metrics.rounds["rule"]
    assert r1["round0"]["r1"]["values"] == pytest.approx([100 / 3, 100 / 3])
    assert r1["round1"]["r1"]["values"] == pytest.approx([200 / 3, 100 / 3])
    assert metrics.gain["rule"]["r1"]["values"] == pytest.approx([100 / 3, 0.0])
    assert metrics.gain["rule"]["mnr"]["values"] == pytest.approx([(5 - 18) / 3, (23 - 25) / 3])
    named1 = metrics.vagueness["named1"]
    assert named1["r1_round0"]["values"] == [50.0, 50.0] and named1["r1_final"]["values"] == [100.0, 50.0]
    assert metrics.vagueness["r1_gain"]["x"] == [1.0, 1.0, 2.0, 2.0]
    assert set(metrics.pooling) == {"attention"}  # the pooling not used for the gallery, at round 0
    assert metrics.pooling["attention"]["r1"]["mean"] == 20.0
    assert metrics.questions_per_query["rule"]["mean"] == 0.75
    assert metrics.chance == {"r1": 5.0, "r5": 25.0, "r10": 50.0} and (metrics.gallery, metrics.queries) == (20, 3)


def test_zero_shot_metrics_of_a_real_benchmark():
    features = {
        "query_z": torch.eye(3),
        "gallery": torch.eye(3)[[1, 0, 2]],
        "targets": [1, 1, 2],
        "vids": ["a", "b", "c"],
        "dataset": "msrvtt",
    }
    metrics, ranks = zero_shot_metrics(features)
    assert ranks.tolist()[0] == 1 and ranks.tolist()[2] == 1
    assert metrics.gallery == 3 and metrics.queries == 3 and metrics.chance["r1"] == pytest.approx(100 / 3)
    assert metrics.scale.startswith("msrvtt: 3 queries vs 3 videos")
