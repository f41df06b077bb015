"""HL-CLIP's run keys and metrics on hand-made scores (revis.highlights.runs, revis.highlights.metrics)."""

import pytest

from revis.datasets.qvhighlights import QvhQuery
from revis.highlights.metrics import first_chosen_window, hlclip_metrics, window_sweep
from revis.highlights.runs import FinetunedModels, Run, arms_to_tune, runs_by_arm


def test_run_keys_round_trip_and_order():
    assert str(Run("last2", 3)) == "last2/seed3" and Run.parse("last2/seed3") == Run("last2", 3)
    assert Run.parse("full/seed10").seed == 10
    assert arms_to_tune(2, True) == {"last2": 2, "full": None} and arms_to_tune(4, False) == {"last4": 4}


def test_finetuned_models_round_trip_the_persisted_dict_in_its_key_order():
    bundle = {
        "arms": {"last2": 2, "full": None},
        "seeds": [0, 1],
        "normalisation": "mean_div4",
        "checkpoints": {"last2/seed0": {"config": {}}, "full/seed1": {"config": {"kind": "tiny"}}},
        "trainable": {"last2": {"trainable": 5, "total": 9}},
    }
    models = FinetunedModels.parse(bundle)
    assert models.to_file() == bundle and list(models.to_file()) == list(bundle)
    assert models.checkpoint(Run("full", 1)) == {"config": {"kind": "tiny"}} and models.seeds == [0, 1]


def test_runs_by_arm_reads_json_qids_as_integers():
    runs = runs_by_arm({"zeroshot/seed1": {"eval": {"7": [0.1, 0.2]}}, "zeroshot/seed0": {"eval": {"7": [0.3]}}})
    assert runs == {"zeroshot": {1: {"eval": {7: [0.1, 0.2]}}, 0: {"eval": {7: [0.3]}}}}


def _query(qid: int, best: int) -> QvhQuery:
    """A 6-clip query whose clip ``best`` all three annotators rate 4 (VeryGood), its neighbours 2."""
    ids = sorted({max(best - 1, 0), best, min(best + 1, 5)})
    scores = tuple((4, 4, 4) if c == best else (2, 2, 2) for c in ids)
    return QvhQuery(qid, f"q{qid}", f"v{qid}", 12.0, ((2.0 * ids[0], 2.0 * ids[-1] + 2),), tuple(ids), scores)


def test_a_perfect_scorer_beats_a_reversed_one_and_the_metrics_hold_the_models_facts():
    queries = [_query(0, 2), _query(1, 4)]
    perfect = {0: [0, 0, 1.0, 0, 0, 0], 1: [0, 0, 0, 0, 1.0, 0]}
    reversed_ = {qid: [-s for s in scores] for qid, scores in perfect.items()}
    runs = {
        arm: {seed: {"eval": scores, "select": scores} for seed in (0, 1)}
        for arm, scores in (("last2", perfect), ("zeroshot", reversed_))
    }
    models = FinetunedModels({"last2": 2}, [0, 1], "mean_div4", {}, {"last2": {"trainable": 5, "total": 9}})
    histories = {"last2/seed0": [4.0] * 10 + [1.0] * 20, "last2/seed1": [2.0]}
    metrics = hlclip_metrics(runs, queries, queries, [0, 1], models, histories, "scale")
    assert metrics.vg["hit1"]["last2"]["w0"]["mean"] == 100.0 and metrics.vg["map"]["last2"]["w0"]["mean"] == 100.0
    assert metrics.vg["map"]["zeroshot"]["w0"]["mean"] < 50
    assert first_chosen_window(metrics, "last2") == 0  # pooling can only blur the one right clip
    assert metrics.final_mse["last2"]["values"] == [1.0, 2.0]
    assert metrics.queries == {"eval": 2, "select_w": 2} and metrics.trainable_parameters == models.trainable
    sweep = window_sweep(metrics, ["last2"], [0, 1])
    assert sweep["last2"][0] == [100.0, 100.0] and sweep["last2"][1] == pytest.approx(
        metrics.vg["map"]["last2"]["w1"]["values"]
    )
