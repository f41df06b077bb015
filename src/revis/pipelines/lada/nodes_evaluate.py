"""``lada-evaluate``: COCO AP per arm and seed, comparisons, label-policy statistics, pictures."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt

from revis.datasets.coco import read_coco_detections
from revis.datasets.lada import release_file
from revis.detection.ssda_metrics import (
    CocoScorer,
    OverrunBounds,
    SsdaMetrics,
    label_folders,
    label_statistics,
    smoke_world_description,
    summarize_ssda,
)
from revis.detection.ssda_pictures import (
    ap_figure,
    detections_per_image,
    predictions_figure,
    pseudo_label_figure,
    teacher_student_curves,
    world_sample_rows,
    world_samples_figure,
)
from revis.detection.ssda_runs import SsdaRuns
from revis.pipelines.lada.params import DataParams, EvaluateParams
from revis.world.smoke import SmokeWorldFolder


def _bounds(data: DataParams) -> OverrunBounds:
    return OverrunBounds(data.max_overrun, data.max_overrun_fraction)


def report_metrics(
    runs: dict[str, Any], world: SmokeWorldFolder, control: SmokeWorldFolder, data: DataParams
) -> tuple[SsdaMetrics, plt.Figure]:
    """metrics.json (AP50 / AP50:95 per arm by pycocotools, paired gains, label statistics) and AP per arm."""
    record = SsdaRuns.from_dict(runs)
    real = record.real_release
    metrics = summarize_ssda(
        record.runs,
        record.pretrained,
        label_folders(world, control, data.release_labels, real),
        CocoScorer(_bounds(data)),
        label_statistics(world, control, data.release_labels, _bounds(data)),
        "the real LADA/HPWREN release" if real else smoke_world_description(world.truth()),
    )
    seeds = len({run.seed for run in record.runs})
    return metrics, ap_figure(metrics.ap50, f"target test AP50 per arm ({seeds} seeds; dots: seeds)")


def plot_world_samples(world: SmokeWorldFolder, control: SmokeWorldFolder, evaluate: EvaluateParams) -> plt.Figure:
    """Frames of the source, target and control worlds read back through the COCO reader, both label policies."""
    folders = [
        ("source", world.labels, world.images, "source"),
        ("target", world.labels, world.images, "target_3"),
        ("target test", world.labels, world.images, "test"),
        ("control", control.labels, control.images, "target_3"),
    ]
    return world_samples_figure(world_sample_rows(folders, evaluate.picture_images))


def plot_predictions(
    runs: dict[str, Any], world: SmokeWorldFolder, control: SmokeWorldFolder, data: DataParams, evaluate: EvaluateParams
) -> plt.Figure:
    """Target test images: ground truth, source-only and the adapted detector (score >= 0.25), one seed."""
    record = SsdaRuns.from_dict(runs)
    labels = label_folders(world, control, data.release_labels, record.real_release)["main"]
    images_root = data.release_images if record.real_release else world.images
    test = read_coco_detections(
        release_file(labels, "test", "merged"),
        images_root,
        max_overrun=data.max_overrun,
        max_overrun_fraction=data.max_overrun_fraction,
    )
    chosen = [i for i, image in enumerate(test.images) if len(image.boxes)][: evaluate.picture_images]
    predictions = {}
    for arm in ("source_only", evaluate.adapted_arm):
        run = next((r for r in record.runs if r.arm == arm and r.seed == evaluate.picture_seed), None)
        if run is not None:
            predictions[arm] = detections_per_image(run.detections, chosen)
    title = f"target test images: ground truth and detections (score >= 0.25), seed {evaluate.picture_seed}"
    return predictions_figure([test.images[i] for i in chosen], predictions, 0.25, title)


def plot_pseudo_labels(runs: dict[str, Any]) -> plt.Figure:
    """Pseudo-label precision / recall against the hidden ground truth over training, per teacher-student arm."""
    return pseudo_label_figure(teacher_student_curves(SsdaRuns.from_dict(runs).runs))
