"""``lada-evaluate``: COCO AP per arm and seed, comparisons, label-policy statistics, pictures."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from revis.datasets.coco import read_coco_detections
from revis.datasets.lada import release_file, release_statistics
from revis.detection.coco_eval import coco_ap, coco_results
from revis.detection.ssda_pictures import ap_figure, predictions_figure, pseudo_label_figure, world_samples_figure
from revis.pipelines.lada.params import DataParams, EvaluateParams
from revis.reporting.summary import mean_std
from revis.world.smoke import SmokeWorldFolder

STAT_SPLITS = ("source", "target_0.5", "target_1", "target_3", "test")
SPLIT_OF = {"05": "target_0.5", "1": "target_1", "3": "target_3"}


def _labels_dir(
    world_name: str, world: SmokeWorldFolder, control: SmokeWorldFolder, runs: dict[str, Any], data: DataParams
) -> Path:
    if world_name == "control":
        return control.labels
    return Path(data.release_labels) if runs["real_release"] else world.labels


def label_statistics(world: SmokeWorldFolder, control: SmokeWorldFolder, data: DataParams) -> dict[str, Any]:
    """Label-policy statistics of the world's files (read back by the reader), the generator's truth, the real files."""
    bounds = {"max_overrun": data.max_overrun, "max_overrun_fraction": data.max_overrun_fraction}
    stats: dict[str, Any] = {"world": release_statistics(world.labels, world.images, STAT_SPLITS, **bounds)}
    truth = world.truth()
    stats["truth"] = {
        split: {
            "box_count_ratio": truth["fragment_boxes"][split] / truth["merged_boxes"][split],
            "merged_boxes": truth["merged_boxes"][split],
            "negative_images": truth["negatives"][split],
            "overrunning_merged_boxes": truth["overrunning_merged_boxes"][split],
        }
        for split in STAT_SPLITS
        if truth["merged_boxes"][split]
    }
    stats["clipped_merged_boxes"] = sum(s["merged"]["clipped_boxes"] for s in stats["world"].values())
    stats["truth_overrunning_merged_boxes"] = sum(truth["overrunning_merged_boxes"][s] for s in STAT_SPLITS)
    stats["negative_images_read"] = sum(s["merged"]["negative_images"] for s in stats["world"].values())
    stats["truth_negative_images"] = sum(truth["negatives"][s] for s in STAT_SPLITS)
    stats["control"] = release_statistics(control.labels, control.images, ("source",), **bounds)
    if data.release_labels is not None:  # the real LADA files: images are not needed for statistics
        stats["release"] = release_statistics(data.release_labels, None, STAT_SPLITS, **bounds)
    return stats


def _arm_tables(per_run: list[dict[str, Any]], key: str) -> dict[str, Any]:
    by_arm: dict[str, dict[int, float]] = defaultdict(dict)
    for row in per_run:
        if key in row:
            by_arm[row["arm"]][row["seed"]] = row[key]
    return {arm: mean_std([v[s] for s in sorted(v)], sorted(v)) for arm, v in by_arm.items()}


def _differences(table: dict[str, dict[int, float]], minuend: str, subtrahend: str) -> dict[str, Any] | None:
    if minuend not in table or subtrahend not in table:
        return None
    seeds = sorted(set(table[minuend]) & set(table[subtrahend]))
    if not seeds:
        return None
    return mean_std([table[minuend][s] - table[subtrahend][s] for s in seeds], seeds)


def _final_pseudo(curve: list[dict[str, Any]], last: int = 3) -> dict[str, float]:
    points = [p for p in curve if p.get("phase") == "teacher_student"][-last:]
    out = {}
    for key, name in (("pseudo_precision", "precision"), ("pseudo_recall", "recall")):
        values = [p[key] for p in points if key in p and p[key] is not None and np.isfinite(p[key])]
        if values:
            out[name] = float(np.mean(values))
    return out


def _remember_test_ids(merged_test: Path, test_ids: dict[str, list[int]], data: DataParams) -> None:
    if str(merged_test) not in test_ids:
        images = read_coco_detections(
            merged_test,
            None,
            check_files=False,
            max_overrun=data.max_overrun,
            max_overrun_fraction=data.max_overrun_fraction,
        ).images
        test_ids[str(merged_test)] = [i.image_id for i in images]


def _ap50_of(
    labels: Path, split: str, detections: Any, test_ids: dict[str, list[int]], data: DataParams
) -> dict[str, float]:
    """COCO AP of detections on one merged-label split file (ids remembered per file)."""
    path = release_file(labels, split, "merged")
    _remember_test_ids(path, test_ids, data)
    return coco_ap(path, coco_results(detections, test_ids[str(path)]))


def _per_seed(table: dict[int, float]) -> dict[str, Any]:
    return mean_std([table[s] for s in sorted(table)], sorted(table))


def gate_metrics(per_run: list[dict[str, Any]], source_ap50: dict[int, float]) -> dict[str, Any]:
    """What the capability gates of claims/lada.yaml read, one value per seed.

    ``source_ap50``: the source detector (main world, merged labels) on held-out source frames;
    ``pseudo_recall``: per seed, the lowest final pseudo-label recall of the main world's
    teacher-student arms (every arm's pseudo-labels must find the smoke for its claims to mean anything).
    """
    gates: dict[str, Any] = {}
    if source_ap50:
        gates["source_ap50"] = _per_seed(source_ap50)
    recall: dict[int, float] = {}
    for row in per_run:
        if row["world"] == "main" and "pseudo_recall" in row:
            recall[row["seed"]] = min(recall.get(row["seed"], 1.0), row["pseudo_recall"])
    if recall:
        gates["pseudo_recall"] = _per_seed(recall)
    return gates


def evaluate_lada(
    runs: dict[str, Any], world: SmokeWorldFolder, control: SmokeWorldFolder, data: DataParams
) -> tuple[dict[str, Any], plt.Figure]:
    """metrics.json (AP50 / AP50:95 per arm by pycocotools, paired gains, label statistics) and AP per arm."""
    per_run: list[dict[str, Any]] = []
    test_ids: dict[str, list[int]] = {}
    for run in runs["runs"]:
        labels = _labels_dir(run["world"], world, control, runs, data)
        merged_test = release_file(labels, "test", "merged")
        _remember_test_ids(merged_test, test_ids, data)
        results = coco_results(run["detections"], test_ids[str(merged_test)])
        row = {"arm": run["arm"], "seed": run["seed"], "world": run["world"], **coco_ap(merged_test, results)}
        for split, detections in run.get("detections_by_split", {}).items():  # held-out cameras: second reading
            row[f"ap50_{split}"] = _ap50_of(labels, split, detections, test_ids, data)["ap50"]
        fragment_test = release_file(labels, "test", "fragment")  # the world's; the real release has none
        if run["world"] == "main" and fragment_test.is_file() and run["arm"].startswith("teacher_student"):
            row["ap50_fragment_test"] = coco_ap(fragment_test, results)["ap50"]
        row.update({f"pseudo_{k}": v for k, v in _final_pseudo(run["curve"]).items()})
        per_run.append(row)
    pretrained: dict[str, dict[int, float]] = defaultdict(dict)
    source_ap50: dict[str, dict[int, float]] = defaultdict(dict)
    for model in runs["pretrained"]:  # the source detectors, before any adaptation
        labels = _labels_dir(model["world"], world, control, runs, data)
        name = f"{model['world']}_{model['policy']}"
        pretrained[name][model["seed"]] = _ap50_of(labels, "test", model["detections"], test_ids, data)["ap50"]
        if "source_test" in model.get("detections_by_split", {}):
            detections = model["detections_by_split"]["source_test"]
            source_ap50[name][model["seed"]] = _ap50_of(labels, "source_test", detections, test_ids, data)["ap50"]
    raw: dict[str, dict[int, float]] = defaultdict(dict)
    for row in per_run:
        raw[row["arm"]][row["seed"]] = row["ap50"]
    metrics: dict[str, Any] = {
        "ap50": _arm_tables(per_run, "ap50"),
        "ap50_95": _arm_tables(per_run, "ap50_95"),
        "ap50_fragment_test": _arm_tables(per_run, "ap50_fragment_test"),
        "ap50_test_heldout": _arm_tables(per_run, "ap50_test_heldout"),
        "pretrained_ap50": {k: _per_seed(v) for k, v in pretrained.items()},
        "pretrained_source_ap50": {k: _per_seed(v) for k, v in source_ap50.items()},
        "gate": gate_metrics(per_run, source_ap50.get("main_merged", {})),
        "pseudo_labels": {
            "precision": _arm_tables(per_run, "pseudo_precision"),
            "recall": _arm_tables(per_run, "pseudo_recall"),
        },
    }
    gains: dict[str, Any] = {}
    for suffix in SPLIT_OF:
        for name, (a, b) in {
            f"adaptation_{suffix}": (f"teacher_student_{suffix}", "source_only"),
            f"unlabeled_{suffix}": (f"teacher_student_{suffix}", f"supervised_{suffix}"),
            f"coordconv_{suffix}": (f"teacher_student_coordconv_{suffix}", f"teacher_student_{suffix}"),
            f"coordconv_control_{suffix}": (
                f"control_teacher_student_coordconv_{suffix}",
                f"control_teacher_student_{suffix}",
            ),
            f"merged_over_fragment_{suffix}": (f"teacher_student_{suffix}", f"teacher_student_fragment_{suffix}"),
            f"adversarial_{suffix}": (f"teacher_student_adversarial_{suffix}", f"teacher_student_{suffix}"),
        }.items():
            diff = _differences(raw, a, b)
            if diff is not None:
                gains[name] = diff
    metrics["gain_ap50"] = gains
    steps = {run["steps"] for run in runs["runs"]}
    metrics["schedule"] = {
        "steps_min": min(steps),
        "steps_max": max(steps),
        "pretrain_steps": runs["pretrained"][0]["steps"],
        "adaptation_steps": runs["runs"][0]["adaptation_steps"],
        "burn_in": runs["runs"][0]["burn_in"],
        "pretrainings": len(runs["pretrained"]),
        "unlabeled_images": max(run["unlabeled_images"] for run in runs["runs"]),
    }
    metrics["labels"] = label_statistics(world, control, data)
    seeds = sorted({run["seed"] for run in runs["runs"]})
    truth = world.truth()
    where = (
        "the real LADA/HPWREN release"
        if runs["real_release"]
        else (
            f"the smoke world ({truth['images']['source']} source images, {truth['cameras']['source']} cameras; "
            f"target pool {truth['images']['target_pool']} images of {truth['cameras']['target']} cameras, "
            f"{truth['images']['target_1']} labeled at 1 %; test {truth['images']['test']} other frames of the pool's "
            f"cameras, as in the release; second reading {truth['images']['test_heldout']} images of "
            f"{truth['cameras']['test_heldout']} held-out cameras)"
        )
    )
    run0 = runs["runs"][0]
    shared = len(runs["pretrained"]) < len(seeds) * len({(m["world"], m["policy"]) for m in runs["pretrained"]})
    metrics["scale"] = (
        f"{where}; YOLOv8n from its yaml; every arm {run0['steps']} optimiser steps: "
        f"{run0['steps'] - run0['adaptation_steps']} of source pretraining "
        f"({'shared by all seeds' if shared else 'one per seed'}), {run0['adaptation_steps']} of adaptation "
        f"({run0['burn_in']} burn-in); {len(seeds)} seeds; AP by pycocotools on the merged-label test file"
    )
    return metrics, ap_figure(metrics["ap50"], f"target test AP50 per arm ({len(seeds)} seeds; dots: seeds)")


def plot_world_samples(world: SmokeWorldFolder, control: SmokeWorldFolder, evaluate: EvaluateParams) -> plt.Figure:
    """Frames of the source, target and control worlds read back through the COCO reader, both label policies."""
    per_row = evaluate.picture_images
    rows = {}
    for name, folder, split in (
        ("source", world, "source"),
        ("target", world, "target_3"),
        ("target test", world, "test"),
        ("control", control, "target_3"),
    ):
        merged = read_coco_detections(release_file(folder.labels, split, "merged"), folder.images)
        fragment = read_coco_detections(release_file(folder.labels, split, "fragment"), folder.images).by_file()
        positives = [i for i in merged.images if len(i.boxes)][: per_row - 1]
        negatives = [i for i in merged.images if not len(i.boxes)][:1]
        rows[name] = [(i, fragment[i.file_name]) for i in positives + negatives]
    return world_samples_figure(rows)


def plot_predictions(
    runs: dict[str, Any], world: SmokeWorldFolder, control: SmokeWorldFolder, data: DataParams, evaluate: EvaluateParams
) -> plt.Figure:
    """Target test images: ground truth, source-only and the adapted detector (score >= 0.25), one seed."""
    labels = _labels_dir("main", world, control, runs, data)
    images_root = data.release_images if runs["real_release"] else world.images
    test = read_coco_detections(
        release_file(labels, "test", "merged"),
        images_root,
        max_overrun=data.max_overrun,
        max_overrun_fraction=data.max_overrun_fraction,
    )
    chosen = [i for i, image in enumerate(test.images) if len(image.boxes)][: evaluate.picture_images]
    predictions: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for arm in ("source_only", evaluate.adapted_arm):
        run = next((r for r in runs["runs"] if r["arm"] == arm and r["seed"] == evaluate.picture_seed), None)
        if run is None:
            continue
        rows = np.asarray(run["detections"], dtype=np.float64).reshape(-1, 7)
        per_image = []
        for index in chosen:
            mine = rows[rows[:, 0] == index]
            boxes = np.concatenate([mine[:, 1:3], mine[:, 1:3] + mine[:, 3:5]], axis=1)
            per_image.append((boxes, mine[:, 5]))
        predictions[arm] = per_image
    title = f"target test images: ground truth and detections (score >= 0.25), seed {evaluate.picture_seed}"
    return predictions_figure([test.images[i] for i in chosen], predictions, 0.25, title)


def plot_pseudo_labels(runs: dict[str, Any]) -> plt.Figure:
    """Pseudo-label precision / recall against the hidden ground truth over training, per teacher-student arm."""
    curves: dict[str, list[list[dict[str, Any]]]] = defaultdict(list)
    for run in runs["runs"]:
        if run["method"] == "teacher_student":
            curves[run["arm"]].append(run["curve"])
    return pseudo_label_figure(dict(curves))
