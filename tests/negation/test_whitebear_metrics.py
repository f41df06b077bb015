"""whitebear's metrics from judged counts: pooled and per-seed rates, defenses, representations, attention."""

import pytest

from revis.negation.metrics import attack_metrics, attention_metrics, per_seed, pooled, whitebear_metrics
from revis.reporting.results import to_json


def _count(x, n, word=0, colour=None, shape=None, alternative=0):
    colour = x if colour is None else colour
    shape = x if shape is None else shape
    return {"x": x, "colour": colour, "shape": shape, "n": n, "word": word, "alternative": alternative}


COUNTS = {
    "base": {"p": {"0": _count(1, 4, word=3), "1": _count(0, 4, word=2)}, "q": {"0": _count(0, 4), "1": _count(1, 4)}},
    "attack": {
        "p": {"0": _count(3, 4, word=2), "1": _count(2, 4, word=2)},
        "q": {"0": _count(1, 4), "1": _count(2, 4)},
    },
    "define": {
        "p": {"0": _count(1, 4, word=4), "1": _count(0, 4, word=4)},
        "q": {"0": _count(0, 4), "1": _count(1, 4)},
    },
    "alternative": {
        "p": {"0": _count(0, 4, alternative=3), "1": _count(0, 4, alternative=1)},
        "q": {"0": _count(0, 4), "1": _count(0, 4)},
    },
}


def test_pooled_and_per_seed_rates():
    assert pooled(COUNTS["attack"])["successes"] == 8 and pooled(COUNTS["attack"])["trials"] == 16
    summary = per_seed(COUNTS["attack"], [0, 1])
    assert summary["seeds"] == [0, 1] and summary["values"] == [0.5, 0.5]
    assert per_seed(COUNTS["base"], [1], "word")["values"] == [2 / 8]


def test_defenses_are_measured_against_the_attack():
    attack = attack_metrics(COUNTS, [0, 1])
    assert list(attack["rates"]) == ["base", "attack", "define", "alternative"]
    define = attack["defenses"]["define"]
    assert define["change_points"] == pytest.approx(100 * (2 / 16 - 8 / 16))
    assert define["relative_change"] == pytest.approx(-0.75)
    # define raises word fidelity (8/16 against the attack's 4/16): a negative cost
    assert define["fidelity_cost_points"] == pytest.approx(100 * (4 / 16 - 8 / 16))
    assert set(attack["defenses"]) == {"define", "alternative"}  # negative_prompt was not measured
    assert attack["alternative_found"]["successes"] == 4
    assert attack["per_pair"]["p"]["attack"]["successes"] == 5


def test_attention_metrics_skip_images_without_the_object():
    pairs = {
        "p": {
            "shares": {"word": [0.2, 0.4], "without": [0.1, 0.1], "object": [0.3, 0.5]},
            "object_on_drawn": [2.0, None],
        },
        "q": {
            "shares": {"word": [0.0, 0.2], "without": [0.1, 0.3], "object": [0.1, 0.1]},
            "object_on_drawn": [None, 1.0],
        },
    }
    out = attention_metrics(pairs)
    assert out["share"]["word"] == pytest.approx(0.2) and out["share"]["object"] == pytest.approx(0.25)
    assert out["object_on_drawn"] == {"mean": 1.5, "images": 2}


def test_whitebear_metrics_pool_the_ablation_arms():
    table = {f"pooled_{k}": [[0.9, 0.8]] for k in ("with", "alone", "neutral")}
    table.update({f"token_{k}": [0.5, 0.7] for k in ("same", "context", "other")})
    metrics = to_json(
        whitebear_metrics(
            representations=table,
            counts=COUNTS,
            attention_pairs={
                "p": {"shares": {"word": [0.1], "without": [0.1], "object": [0.1]}, "object_on_drawn": []}
            },
            ablation_counts={"negation": {"attack": COUNTS["attack"]}, "control": {"attack": COUNTS["base"]}},
            judge={"clean": {}},
            seeds=[0, 1],
            n_pairs=2,
            images_per_prompt=4,
            ablation_steps=3,
        )
    )
    assert metrics["ablation"]["negation"]["attack"]["successes"] == 8
    assert metrics["ablation"]["control"]["attack"]["successes"] == 2
    assert metrics["representations"]["items"] == 2
    assert metrics["representations"]["pooled"]["with"]["mean"] == pytest.approx(0.85)
    assert metrics["attention"]["object_on_drawn"] == {"mean": None, "images": 0}
    # the claim's unit: each seed's own fine-tuned pair, its rate pooled over pairs
    assert metrics["ablation_per_seed"]["negation"]["attack"]["values"] == [0.5, 0.5]  # (3 + 1) / 8, (2 + 2) / 8
    assert metrics["ablation_per_seed"]["control"]["attack"]["values"] == [0.125, 0.125]
    assert metrics["ablation_per_seed"]["control"]["attack"]["seeds"] == [0, 1]
    assert "2 whole-chain seeds" in metrics["scale"] and "one fine-tuning pair per whole-chain seed" in metrics["scale"]
    assert "3 steps per arm" in metrics["scale"]
