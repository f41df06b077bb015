"""dkkt's metric functions (revis.distill.metrics) and the chain key, on small hand-made inputs."""

import pytest
import torch

from revis.distill.chain import Chain, chains
from revis.distill.metrics import dkkt_gains, dm_run_stats, guard_report, nest_by_method, run_keys, weight_choices


def test_a_chain_round_trips_through_its_artifact_key():
    chain = Chain("digits", 3)
    assert str(chain) == "digits/3" and Chain.parse("digits/3") == chain
    assert list(chains({"shapes": [1, 0], "digits": [2]})) == [
        Chain("shapes", 1),
        Chain("shapes", 0),
        Chain("digits", 2),
    ]
    assert chain.curve("few_shot.ipc1") == ("digits.few_shot.ipc1", "3")


def test_nest_by_method_and_run_keys_order_fractions_numerically():
    nested = nest_by_method({"dm/10pct/1": 1, "dm/2pct/1": 2, "dm/2pct/5": 3, "random/2pct/1": 4})
    assert nested == {"dm": {"10pct": {"1": 1}, "2pct": {"1": 2, "5": 3}}, "random": {"2pct": {"1": 4}}}
    assert run_keys(nested) == ["2pct/1", "2pct/5", "10pct/1"]


def test_dm_run_stats_average_the_first_and_last_tenth():
    history = [10.0] * 10 + [1.0] * 10  # 20 iterations: windows of 2
    stats = dm_run_stats(history, torch.ones(2, 1, 2, 2), torch.zeros(2, 1, 2, 2))
    assert stats == {"loss_start": 10.0, "loss_end": 1.0, "pixel_change": 1.0}
    assert dm_run_stats([3.0], torch.zeros(1), torch.zeros(1))["loss_start"] == 3.0  # at least one


def test_dkkt_gains_are_per_seed_differences():
    accuracies = {"dm_dkkt/2pct/1/0": 0.6, "dm/2pct/1/0": 0.5, "dm_dkkt/2pct/1/1": 0.4, "dm/2pct/1/1": 0.5}
    gain = dkkt_gains(accuracies, ["2pct/1"], [0, 1])["2pct"]["1"]
    assert gain["values"] == pytest.approx([0.1, -0.1]) and gain["mean"] == pytest.approx(0.0)


def _entry(chosen: float, accuracy: list[float], guard: dict | None) -> dict:
    choice = {"grid": [0.5, 2.0], "chosen": chosen, "validation_images": 3, "validation_accuracy": accuracy}
    histories = {"2pct/1": {"dm_dkkt": {"choice": choice, **({"guard": guard} if guard else {})}, "random": {}}}
    return {"histories": histories}


def test_weight_choices_and_guard_report_over_seeds():
    distilled = {
        0: _entry(0.5, [0.8, 0.6], {"restarts": 1, "diverged": False}),
        1: _entry(2.0, [0.4, 0.9], {"restarts": 0, "diverged": True}),
    }
    choice = weight_choices(distilled)["2pct"]["1"]
    assert choice["chosen"]["values"] == [0.5, 2.0] and choice["validation_images"]["mean"] == 3.0
    assert choice["validation_accuracy"]["0_5"]["values"] == [0.8, 0.4]
    assert choice["validation_accuracy"]["2"]["values"] == [0.6, 0.9]
    report = guard_report(distilled)
    assert (report.runs, report.restarted, report.diverged) == (2, 1, 1)
    assert report.diverged_runs == "dm_dkkt/2pct/1/seed1"


def test_weight_choices_average_only_the_scored_trials_and_count_the_excluded():
    distilled = {0: _entry(0.5, [0.8, None], None), 1: _entry(2.0, [0.4, 0.9], None), 2: _entry(0.5, [], None)}
    distilled[0]["histories"]["2pct/1"]["dm_dkkt"]["choice"] |= {"excluded": [False, True], "trials": [{"restarts": 0}]}
    distilled[1]["histories"]["2pct/1"]["dm_dkkt"]["choice"]["trials"] = [{"restarts": 2}, {"restarts": 1}]
    choice = weight_choices(distilled)["2pct"]["1"]
    low, high = choice["validation_accuracy"]["0_5"], choice["validation_accuracy"]["2"]
    assert low["values"] == [0.8, 0.4] and low["seeds"] == [0, 1]
    assert high["values"] == [0.9] and high["seeds"] == [1]
    assert choice["excluded_trials"]["values"] == [1.0, 0.0, 0.0]
    assert choice["restarted_trials"]["values"] == [0.0, 2.0, 0.0]
