"""The SSDA metrics (revis.detection.ssda_metrics) on hand-made scores."""

import dataclasses
import io
import math

import pytest
import torch

from revis.detection.ssda_metrics import (
    RunScore,
    ScheduleSummary,
    arm_tables,
    final_pseudo,
    gains,
    gate_metrics,
    paired_difference,
    pseudo_values,
    scale_text,
    schedule_summary,
)
from revis.detection.ssda_runs import ArmRun, PretrainRun, SsdaRuns


def scores() -> list[RunScore]:
    return [
        RunScore("source_only", 0, "main", {"ap50": 0.2}),
        RunScore("source_only", 1, "main", {"ap50": 0.3}),
        RunScore("teacher_student_1", 1, "main", {"ap50": 0.5, "pseudo_recall": 0.6}),
        RunScore("teacher_student_1", 0, "main", {"ap50": 0.6, "pseudo_recall": 0.4}),
        RunScore("teacher_student_coordconv_1", 0, "main", {"ap50": 0.7, "pseudo_recall": 0.3}),
        RunScore("control_teacher_student_1", 0, "control", {"ap50": 0.1, "pseudo_recall": 0.05}),
        RunScore("teacher_student_fragment_1", 1, "main", {"ap50": 0.01, "pseudo_recall": 0.02}, "fragment"),
    ]


def test_arm_tables_are_per_seed_summaries_in_seed_order():
    table = arm_tables(scores(), "ap50")
    assert table["teacher_student_1"]["seeds"] == [0, 1] and table["teacher_student_1"]["values"] == [0.6, 0.5]
    assert table["teacher_student_1"]["mean"] == pytest.approx(0.55)
    assert table["teacher_student_coordconv_1"]["n"] == 1 and table["teacher_student_coordconv_1"]["std"] is None
    assert "source_only" not in arm_tables(scores(), "pseudo_recall")  # arms without the value are left out


def test_gains_pair_seeds_and_skip_comparisons_whose_arms_did_not_run():
    out = gains(scores())
    assert out["adaptation_1"]["values"] == pytest.approx([0.4, 0.2]) and out["adaptation_1"]["seeds"] == [0, 1]
    assert out["coordconv_1"]["values"] == pytest.approx([0.1]) and out["coordconv_1"]["seeds"] == [0]  # common seeds
    assert "unlabeled_1" not in out and "adaptation_3" not in out
    assert paired_difference({"a": {0: 1.0}, "b": {1: 0.5}}, "a", "b") is None  # no seed in common


def test_gates_take_the_lowest_recall_per_seed_of_the_arms_the_claims_compare():
    gate = gate_metrics(scores(), {1: 0.35, 0: 0.45})
    # seed 0: min(0.4, 0.3); neither the control world nor the fragment-label arm (seed 1: 0.02) enters
    assert gate["pseudo_recall"]["values"] == [0.3, 0.6]
    assert gate["pseudo_recall_control"]["values"] == [0.05] and gate["pseudo_recall_control"]["seeds"] == [0]
    assert gate["source_ap50"]["values"] == [0.45, 0.35] and gate["source_ap50"]["seeds"] == [0, 1]
    assert gate_metrics([], {}) == {}


def test_final_pseudo_averages_the_last_finite_teacher_student_points():
    curve = [
        {"phase": "burn_in", "pseudo_recall": 0.9},
        {"phase": "teacher_student", "pseudo_recall": 0.1, "pseudo_precision": math.nan},
        {"phase": "teacher_student", "pseudo_recall": 0.2, "pseudo_precision": 0.5},
        {"phase": "teacher_student", "pseudo_recall": 0.3},
        {"phase": "teacher_student", "pseudo_recall": 0.4, "pseudo_precision": None},
    ]
    assert final_pseudo(curve) == pytest.approx({"recall": 0.3, "precision": 0.5})
    assert final_pseudo([{"phase": "burn_in"}]) == {}


def arm_run(seed: int, unlabeled_images: int) -> ArmRun:
    return ArmRun(
        arm="teacher_student_1",
        seed=seed,
        world="main",
        policy="merged",
        coordconv=False,
        adversarial=False,
        method="teacher_student",
        labeled=["source", "target_1"],
        chain="c",
        pretrain="p",
        steps=30,
        adaptation_steps=10,
        burn_in=2,
        unlabeled_images=unlabeled_images,
        curve=[],
        detections=torch.zeros(0, 7),
        detections_by_split={},
        test_images=4,
    )


def pretrain_run(seed: int, world: str = "main", policy: str = "merged") -> PretrainRun:
    return PretrainRun("p", world, policy, seed, 20, None, [], torch.zeros(0, 7), {})


def test_schedule_and_scale_say_whether_the_pretraining_is_shared():
    runs = [arm_run(0, 5), arm_run(1, 7)]
    shared = [pretrain_run(0)]
    assert schedule_summary(runs, shared) == ScheduleSummary(30, 30, 20, 10, 2, 1, 7)
    assert "shared by all seeds" in scale_text(runs, shared, "here") and "2 seeds" in scale_text(runs, shared, "here")
    assert "one per seed" in scale_text(runs, [pretrain_run(0), pretrain_run(1)], "here")
    mixed = [pretrain_run(0), pretrain_run(1), pretrain_run(0, "main", "fragment"), pretrain_run(0, "control")]
    assert schedule_summary(runs, mixed).pretrainings == 4
    assert "(one per seed: main_merged; shared by all seeds: main_fragment, control_merged)" in scale_text(
        runs, mixed, "here"
    )


def test_runs_round_trip_through_the_catalog_form():
    runs = SsdaRuns([arm_run(0, 5)], [pretrain_run(0)], real_release=True)
    buffer = io.BytesIO()
    torch.save(runs.to_dict(), buffer)  # the catalog's TorchDataset reads it back with weights_only=True
    buffer.seek(0)
    document = torch.load(buffer, weights_only=True)
    assert document["runs"][0]["arm"] == "teacher_student_1" and document["pretrained"][0]["seed"] == 0
    assert SsdaRuns.from_dict(document).runs[0].unlabeled_images == 5 and SsdaRuns.from_dict(document).real_release


def test_pseudo_values_take_the_final_teacher_for_the_gate_and_keep_the_training_windows():
    curve = [{"phase": "teacher_student", "pseudo_recall": 0.1, "pseudo_precision": 0.5}]
    final = {"images": 300, "pseudo": 40, "hits": 30, "hidden": 60, "precision": 0.75, "recall": 0.5}
    values = pseudo_values(curve, final)
    assert values == pytest.approx(
        {
            "pseudo_recall": 0.5,
            "pseudo_precision": 0.75,
            "pseudo_recall_training": 0.1,
            "pseudo_precision_training": 0.5,
        }
    )
    assert pseudo_values(curve, {}) == pytest.approx({"pseudo_recall_training": 0.1, "pseudo_precision_training": 0.5})
    nothing_made = pseudo_values([], {"pseudo": 0, "hidden": 60, "precision": math.nan, "recall": 0.0})
    assert nothing_made == {"pseudo_recall": 0.0}  # no pseudo-label: recall 0 counts, the undefined precision does not


def test_final_pseudo_travels_through_the_catalog_and_defaults_to_empty():
    run = dataclasses.replace(arm_run(0, 5), final_pseudo={"recall": 0.4, "hidden": 10})
    buffer = io.BytesIO()
    torch.save(SsdaRuns([run], [pretrain_run(0)]).to_dict(), buffer)
    buffer.seek(0)
    document = torch.load(buffer, weights_only=True)
    assert SsdaRuns.from_dict(document).runs[0].final_pseudo == {"recall": 0.4, "hidden": 10}
    del document["runs"][0]["final_pseudo"]  # a record written before the field existed
    assert SsdaRuns.from_dict(document).runs[0].final_pseudo == {}
