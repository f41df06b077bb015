"""dsv's metric functions (revis.kkt.metrics) on small hand-made inputs."""

import pytest
import torch

from revis.kkt.metrics import (
    DSVDatasetMetrics,
    by_metric,
    correlations,
    dataset_metrics,
    nest,
    primal_gap,
    synthesis_guards,
    teacher_seed,
)
from revis.reporting.results import to_json


def test_nest_splits_kind_and_size_and_sorts_kinds():
    assert nest({"z/1": 1, "a/5": 2, "a/1": 3}) == {"a": {"5": 2, "1": 3}, "z": {"1": 1}}


def test_by_metric_summarizes_each_metric_over_seeds_in_seed_order():
    out = by_metric({1: {"x": 2.0, "y": 0.0}, 0: {"x": 4.0, "y": 1.0}})
    assert out["x"]["values"] == [4.0, 2.0] and out["x"]["seeds"] == [0, 1] and out["x"]["mean"] == 3.0
    assert out["y"]["mean"] == 0.5 and out["y"]["n"] == 2


def test_teacher_seed_counts_per_class_accuracy_and_lambda_mass():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0], [1.0, 0.0]])  # predicts 0, 1, 0, 0
    y_test = torch.tensor([0, 1, 1, 0])
    run = {"stationarity": {"ratio_identifiable": 0.1, "ratio_all": 0.2, "cosine_identifiable": 0.9}}
    run["stationarity_sgd"] = {"ratio_identifiable": 0.3}
    fit = {
        "lam": torch.tensor([1.0, 2.0, 3.0, 0.0]),
        "labels": torch.tensor([0, 0, 1, 1]),
        "alive": torch.tensor([True, True, True, False]),
        "history": {"stat": [0.5, 0.25, 0.125]},
    }
    t = teacher_seed(logits, y_test, run, fit, 2)
    assert t.class_accuracy == [1.0, 0.5] and t.lambda_sum == [3.0, 3.0]
    assert t.stats["test_accuracy"] == 0.75 and t.stats["stationarity_ratio_sgd"] == 0.3
    assert t.lam["stat_start"] == 0.5 and t.lam["stat_end"] == 0.125 and t.lam["alive_fraction"] == 0.75
    assert t.lam["relative_spread"] == pytest.approx(float(torch.tensor([1.0, 2.0, 3.0]).std() / 2.0))


def test_correlations_skip_a_seed_whose_side_is_constant():
    from revis.kkt.metrics import TeacherSeed

    rising = TeacherSeed({}, {}, [1.0, 2.0, 3.0], [0.1, 0.5, 0.9])
    constant = TeacherSeed({}, {}, [1.0, 2.0, 3.0], [1.0, 1.0, 1.0])
    corr = correlations({0: rising, 1: constant})
    assert corr["spearman"] == {0: pytest.approx(1.0)} and corr["pearson"] == {0: pytest.approx(1.0)}


def test_primal_gap_compares_only_the_candidates_both_runs_kept():
    initial = torch.zeros(3, 1, 1, 1)
    full = {"initial": initial, "alive": torch.tensor([True, True, False]), "images": torch.ones(2, 1, 1, 1)}
    primal = {"initial": initial, "alive": torch.tensor([True, False, True]), "images": torch.full((2, 1, 1, 1), 3.0)}
    assert primal_gap(full, primal) == 2.0  # candidate 0 only: |1 - 3|
    none = {"initial": initial, "alive": torch.tensor([False, False, True]), "images": torch.ones(1, 1, 1, 1)}
    assert primal_gap(full, none) == 0.0


def test_synthesis_guards_count_restarts_and_name_the_diverged_runs():
    ok, restarted = {"restarts": 0, "diverged": False}, {"restarts": 2, "diverged": True}
    report = synthesis_guards({0: {"few_shot/1": {"guard": ok}}, 1: {"few_shot/1": {"guard": restarted}}})
    assert (report.runs, report.restarted, report.diverged) == (2, 1, 1)
    assert report.diverged_runs == "few_shot/1/seed1"
    lambda_only = {"restarts": 0, "lambda_restarts": 1, "diverged": False}  # rerun after losing every candidate
    report = synthesis_guards({0: {"zero_shot/1": {"guard": lambda_only}}, 1: {"zero_shot/1": {"guard": ok}}})
    assert (report.runs, report.restarted, report.diverged) == (2, 1, 0)


def _synthesis(alive: list[bool], value: float = 1.0) -> dict:
    n = len(alive)
    history = {"entropy": [0.1, 0.4], "stat": [1.0, 0.5], "accuracy": [1.0, 0.5]}
    mask = torch.tensor(alive)
    guard = {"restarts": 0, "diverged": False}
    return {
        "initial": torch.zeros(n, 1, 2, 2),
        "alive": mask,
        "images": torch.full((int(mask.sum()), 1, 2, 2), value),
    } | {
        "history": history,
        "guard": guard,
    }


def test_dataset_metrics_serialize_with_the_lambda_key_and_split_real_subsets_from_dsvs():
    from revis.kkt.metrics import TeacherSeed

    teachers = {
        s: TeacherSeed({"test_accuracy": 0.5 + s / 10}, {"alive_fraction": 1.0}, [1.0, 2.0], [0.2, 0.4]) for s in (0, 1)
    }
    dsvs = {
        s: {"few_shot/1": _synthesis([True, True]), "few_shot_primal/1": _synthesis([True, False], 3.0)} for s in (0, 1)
    }
    accuracies = {f"{k}/{s}": 0.5 for s in (0, 1) for k in ("random/1", "top_lambda/1", "few_shot/1")}
    result = dataset_metrics(0.5, accuracies, teachers, dsvs)
    assert isinstance(result, DSVDatasetMetrics)
    tree = to_json(result)
    assert tree["lambda"]["alive_fraction"]["mean"] == 1.0 and "lambda_" not in tree
    assert set(tree["retrain"]) == {"random", "top_lambda"} and set(tree["dsv"]) == {"few_shot"}
    assert tree["synthesis"]["few_shot"]["1"]["pixel_change"]["mean"] == 1.0
    assert tree["ablation"]["few_shot"]["1"]["image_gap"]["values"] == [2.0, 2.0]  # candidate 0: |1 - 3|
    assert tree["teacher"]["test_accuracy"]["values"] == [0.5, 0.6] and tree["guard"]["runs"] == 4


def test_by_metric_leaves_out_the_seeds_whose_value_is_undefined():
    out = by_metric({0: {"x": 1.0, "y": float("nan")}, 1: {"x": 3.0, "y": 2.0}, 2: {"x": 5.0, "y": None}})
    assert out["x"]["values"] == [1.0, 3.0, 5.0]
    assert out["y"]["values"] == [2.0] and out["y"]["seeds"] == [1] and out["y"]["mean"] == 2.0
    assert "z" not in by_metric({0: {"z": float("nan")}})
