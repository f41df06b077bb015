"""Nodes of the ``csod`` pipeline: thin adapters over ``revis.detection`` and ``revis.selection``."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from revis.datasets.images import load_image
from revis.datasets.voc import VocData
from revis.detection.data import DetectionSplits, detection_splits
from revis.detection.roi_features import representative_vectors
from revis.detection.subsets import train_on_subsets
from revis.detection.ultralytics_env import ultralytics_home
from revis.detection.yolo import YoloConfig, evaluate_yolo, load_model_state, model_state, train_yolo
from revis.detection.yolo_format import write_yolo_dataset
from revis.pipelines.csod.params import DataParams, FeaturesParams, SelectParams, TrainParams, YoloParams
from revis.reporting.summary import mean_std
from revis.selection.grid import lam_label, run_selection, selection_grid
from revis.selection.pool import SelectionPool


def _splits(world: VocData, data: dict[str, Any]) -> DetectionSplits:
    p = DataParams.model_validate(data)
    return detection_splits(world, p.voc_root, p.train_splits, p.test_split)


def _workdir(stage: str):
    return ultralytics_home() / "work" / "csod" / stage


def train_feature_detector(
    world: VocData, data: dict[str, Any], yolo: dict[str, Any], features: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """YOLO trained on the whole train pool (the feature extractor); its test AP as the full-data reference."""
    splits = _splits(world, data)
    f = FeaturesParams.model_validate(features)
    config = YoloConfig(**YoloParams.model_validate(yolo).model_dump(), epochs=f.epochs)
    workdir = _workdir("features")
    dataset = write_yolo_dataset(workdir / "dataset", [*splits.train, *splits.test], splits.class_names)
    train_ids, test_ids = [r.image_id for r in splits.train], [r.image_id for r in splits.test]
    start = time.perf_counter()
    net = train_yolo(dataset.write_yaml("full", train_ids, test_ids[:1]), config, f.seed, workdir / "run")
    seconds = time.perf_counter() - start
    report = evaluate_yolo(net, dataset.write_yaml("test", test_ids[:1], test_ids), config, workdir / "val")
    report.update({"train_images": len(train_ids), "epochs": f.epochs, "train_seconds": seconds})
    return model_state(net), report


def extract_representatives(
    detector: dict[str, Any], world: VocData, data: dict[str, Any], yolo: dict[str, Any], features: dict[str, Any]
) -> dict[str, Any]:
    """RoIAlign per ground-truth box on the detector's map, averaged per (image, class)."""
    splits = _splits(world, data)
    f = FeaturesParams.model_validate(features)
    net = load_model_state(detector)
    pool = representative_vectors(
        net, splits.train, splits.class_names, YoloParams.model_validate(yolo).imgsz, layer=f.layer, roi_size=f.roi_size
    )
    return {**pool.to_dict(), "layer": f.layer}


def select_subsets(representatives: dict[str, Any], select: dict[str, Any]) -> list[dict[str, Any]]:
    """Every method x budget x seed, plus CSOD's lambda sweep: image ids, coverage, selection time."""
    p = SelectParams.model_validate(select)
    pool = SelectionPool.from_dict(representatives)
    specs = selection_grid(
        p.methods, p.budgets, p.seeds, p.csod.model_dump(), p.lambda_sweep.values, p.lambda_sweep.budgets
    )
    return run_selection(pool, specs)


def train_subsets(
    subsets: list[dict[str, Any]], world: VocData, data: dict[str, Any], yolo: dict[str, Any], train: dict[str, Any]
) -> list[dict[str, Any]]:
    """A YOLO per subset x seed (seed = selection seed = training seed); AP50 / AP50-95 on the test split."""
    splits = _splits(world, data)
    t = TrainParams.model_validate(train)
    config = YoloConfig(**YoloParams.model_validate(yolo).model_dump())
    return train_on_subsets(
        splits.train, splits.test, splits.class_names, subsets, config, t.steps, _workdir("train"), workers=t.workers
    )


def _by(rows: list[dict[str, Any]], *keys: str) -> dict[tuple, list[dict[str, Any]]]:
    grouped: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[tuple(row[k] for k in keys)].append(row)
    return grouped


def summarize(
    runs: list[dict[str, Any]], subsets: list[dict[str, Any]], detector_report: dict[str, Any], select: dict[str, Any]
) -> dict[str, Any]:
    """metrics.json: AP50 per (method, budget), CSOD - random gaps, lambda sweep, coverage, reference AP."""
    p = SelectParams.model_validate(select)
    ap50: dict[str, dict[str, Any]] = defaultdict(dict)
    ap50_95: dict[str, dict[str, Any]] = defaultdict(dict)
    per_class: dict[str, dict[str, Any]] = defaultdict(dict)
    for (label, budget), rows in sorted(_by(runs, "label", "budget").items()):
        ap50[label][f"b{budget}"] = mean_std([r["ap50"] for r in rows])
        ap50_95[label][f"b{budget}"] = mean_std([r["ap50_95"] for r in rows])
        classes = sorted({c for r in rows for c in r["ap50_per_class"]})
        per_class[label][f"b{budget}"] = {
            c: float(np.mean([r["ap50_per_class"].get(c, 0.0) for r in rows])) for c in classes
        }
    coverage: dict[str, dict[str, Any]] = defaultdict(dict)
    for (label, budget), rows in sorted(_by(subsets, "label", "budget").items()):
        coverage[label][f"b{budget}"] = {
            "classes_covered": float(np.mean([r["coverage"]["classes_covered"] for r in rows])),
            "min_boxes_per_class": float(np.mean([r["coverage"]["min_boxes_per_class"] for r in rows])),
            "boxes": float(np.mean([r["coverage"]["boxes"] for r in rows])),
        }
    gap, gap_z, wins = {}, {}, {}
    for budget in p.budgets:
        key = f"b{budget}"
        if key in ap50.get("csod", {}) and key in ap50["random"]:
            csod, rand = ap50["csod"][key], ap50["random"][key]
            gap[key] = csod["mean"] - rand["mean"]
            # the gap in standard errors of a difference of two means (seed noise of both)
            se = float(np.sqrt((csod["std"] or 0.0) ** 2 / csod["n"] + (rand["std"] or 0.0) ** 2 / rand["n"]))
            gap_z[key] = gap[key] / se if se > 0 else 0.0
            by_seed = {(r["label"], r["seed"]): r["ap50"] for r in runs if r["budget"] == budget}
            wins[key] = sum(
                by_seed[("csod", s)] > by_seed[("random", s)]
                for s in p.seeds
                if ("csod", s) in by_seed and ("random", s) in by_seed
            )
    sweep: dict[str, Any] = {}
    for budget in p.lambda_sweep.budgets:
        key = f"b{budget}"
        means = {}
        for value in p.lambda_sweep.values:
            label = f"csod_{lam_label(value)}"
            if key in ap50.get(label, {}):
                means[lam_label(value)] = ap50[label][key]["mean"]
        entry: dict[str, Any] = {"ap50": {k: ap50[f"csod_{k}"][key] for k in means}}
        if "lam0" in means and len(means) > 1:
            entry["lam0_below_others"] = min(v for k, v in means.items() if k != "lam0") - means["lam0"]
        if key in ap50["random"]:
            entry["best_minus_random"] = max(means.values()) - ap50["random"][key]["mean"] if means else None
        sweep[key] = entry
    selection_seconds = {
        label: float(np.mean([r["seconds"] for r in rows])) for (label,), rows in sorted(_by(subsets, "label").items())
    }
    smallest = min(p.budgets)
    n_train = detector_report["train_images"]
    return {
        "ap50": dict(ap50),
        "ap50_95": dict(ap50_95),
        "ap50_per_class": dict(per_class),
        "gap_csod_minus_random": gap,
        "gap_csod_minus_random_z": gap_z,
        "csod_wins_over_random": wins,
        "lambda_sweep": sweep,
        "coverage": dict(coverage),
        "n_classes": len(subsets[0]["coverage"]["boxes_per_class"]),
        "full_data": {"ap50": detector_report["ap50"], "ap50_95": detector_report["ap50_95"], "images": n_train},
        "selection_seconds": selection_seconds,
        "train_seconds": float(sum(r["train_seconds"] for r in runs if not r["reused"])),
        "schedule": {
            "steps": {f"b{b}": int(rows[0]["steps"]) for (b,), rows in sorted(_by(runs, "budget").items())},
            "epochs": {f"b{b}": int(rows[0]["epochs"]) for (b,), rows in sorted(_by(runs, "budget").items())},
            "feature_detector_epochs": int(detector_report["epochs"]),
        },
        "scale": (
            f"mini world CPU: pool of {n_train} train images, budgets {p.budgets} "
            f"({100 * smallest / n_train:.0f}-{100 * max(p.budgets) / n_train:.0f} % of the pool), "
            f"{len(p.seeds)} seeds, YOLOv8n from scratch, {max(r['steps'] for r in runs)} optimiser steps per "
            f"subset; paper: VOC07+12 16551 -> 200 images, Faster R-CNN"
        ),
    }


def evaluate_csod(
    runs: list[dict[str, Any]], subsets: list[dict[str, Any]], detector_report: dict[str, Any], select: dict[str, Any]
) -> tuple[dict[str, Any], plt.Figure, plt.Figure]:
    """Metrics, AP50-vs-budget curves and the lambda sweep."""
    metrics = summarize(runs, subsets, detector_report, select)
    return metrics, _curves(metrics, select), _sweep(metrics, select)


def _budget_of(key: str) -> int:
    return int(key[1:])


def _curves(metrics: dict[str, Any], select: dict[str, Any]) -> plt.Figure:
    p = SelectParams.model_validate(select)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, (name, table) in zip(axes, [("AP50", metrics["ap50"]), ("AP50-95", metrics["ap50_95"])]):
        for label in p.methods:
            points = sorted((_budget_of(k), v["mean"], v["std"] or 0.0) for k, v in table.get(label, {}).items())
            if points:
                x, y, err = zip(*points)
                ax.errorbar(x, y, yerr=err, marker="o", capsize=3, lw=2 if label == "csod" else 1, label=label)
        reference = metrics["full_data"]["ap50" if name == "AP50" else "ap50_95"]
        ax.axhline(
            reference,
            ls="--",
            c="grey",
            lw=1,
            label=f"all {metrics['full_data']['images']} images "
            f"(feature detector, {metrics['schedule']['feature_detector_epochs']} epochs)",
        )
        ax.set(xlabel="selected images (budget)", ylabel=f"test {name}", xticks=p.budgets)
    axes[0].legend(fontsize=7)
    steps = sorted(set(metrics["schedule"]["steps"].values()))
    fig.suptitle(
        f"csod: YOLOv8n trained on each subset ({'/'.join(map(str, steps))} optimiser steps), "
        f"mean ± std over {len(p.seeds)} seeds",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def _sweep(metrics: dict[str, Any], select: dict[str, Any]) -> plt.Figure:
    p = SelectParams.model_validate(select)
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for key, entry in metrics["lambda_sweep"].items():
        points = sorted(
            (v, entry["ap50"][lam_label(v)]) for v in p.lambda_sweep.values if lam_label(v) in entry["ap50"]
        )
        if points:
            x = np.arange(len(points))
            ax.errorbar(
                x,
                [s["mean"] for _, s in points],
                yerr=[s["std"] or 0.0 for _, s in points],
                marker="o",
                capsize=3,
                label=f"CSOD, {_budget_of(key)} images",
            )
            ax.set_xticks(x, [f"{v:g}" for v, _ in points])
        if key in metrics["ap50"]["random"]:
            ax.axhline(
                metrics["ap50"]["random"][key]["mean"],
                ls="--",
                c="grey",
                lw=1,
                label=f"random, {_budget_of(key)} images",
            )
    ax.set(xlabel="λ (diversity weight)", ylabel="test AP50")
    ax.legend(fontsize=7)
    ax.set_title(f"CSOD λ sweep ({p.csod.reduction} reduction)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_selected_images(
    subsets: list[dict[str, Any]], world: VocData, data: dict[str, Any], select: dict[str, Any], n: int = 8
) -> plt.Figure:
    """The first images each method picks at the smallest budget (seed of the first run), with their boxes."""
    p = SelectParams.model_validate(select)
    splits = _splits(world, data)
    records = {r.image_id: r for r in splits.train}
    budget, seed = min(p.budgets), p.seeds[0]
    chosen = {
        s["label"]: s["image_ids"][:n]
        for s in subsets
        if s["budget"] == budget and s["seed"] == seed and s["label"] in p.methods
    }
    labels = [m for m in p.methods if m in chosen]
    cols = min(n, budget)
    fig, axes = plt.subplots(len(labels), cols, figsize=(1.5 * cols, 1.6 * len(labels)), squeeze=False)
    colours = plt.get_cmap("tab10")
    for row, label in enumerate(labels):
        for col in range(cols):
            ax = axes[row, col]
            ax.set_axis_off()
            if col >= len(chosen[label]):
                continue
            record = records[chosen[label][col]]
            ax.imshow(load_image(record.image_path))
            for obj in record.objects:
                x0, y0, x1, y1 = obj.box
                colour = colours(splits.class_names.index(obj.name) % 10)
                ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, lw=1, ec=colour))
            if col == 0:
                ax.text(-0.08, 0.5, label, transform=ax.transAxes, ha="right", va="center", fontsize=8)
    handles = [Rectangle((0, 0), 1, 1, fill=False, ec=colours(i % 10)) for i in range(len(splits.class_names))]
    fig.legend(handles, splits.class_names, loc="lower center", ncol=len(handles), fontsize=7, frameon=False)
    fig.suptitle(f"first {cols} images picked per method (budget {budget}, seed {seed})", fontsize=10)
    fig.tight_layout(rect=(0.06, 0.05, 1, 0.95))
    return fig
