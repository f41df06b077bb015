"""Pictures of the LADA reproduction: world samples, test predictions, pseudo-label quality, AP per arm."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from revis.datasets.coco import CocoImage, read_coco_detections
from revis.datasets.images import load_image
from revis.datasets.lada import release_file
from revis.detection.ssda_runs import ArmRun, Curve


def _boxes(
    ax: plt.Axes, boxes: np.ndarray, colour: str, width: float = 1.0, scores: np.ndarray | Sequence[float] | None = None
) -> None:
    for k, (x0, y0, x1, y1) in enumerate(np.asarray(boxes).reshape(-1, 4)):
        ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, lw=width, ec=colour))
        if scores is not None:
            ax.text(x0, y0 - 1, f"{scores[k]:.2f}", color=colour, fontsize=5, va="bottom")


def _pixels(image: CocoImage) -> np.ndarray:
    if image.path is None:
        raise ValueError(f"{image.file_name}: read without an image root, no pixels to show")
    return load_image(image.path)


def world_sample_rows(
    folders: Sequence[tuple[str, Path, Path, str]], per_row: int
) -> dict[str, list[tuple[CocoImage, CocoImage]]]:
    """Per ``(name, labels, images, split)``: ``per_row - 1`` frames with smoke and one without, each with its
    merged and fragment labels, read back through the COCO reader."""
    rows = {}
    for name, labels, images, split in folders:
        merged = read_coco_detections(release_file(labels, split, "merged"), images)
        fragment = read_coco_detections(release_file(labels, split, "fragment"), images).by_file()
        positives = [i for i in merged.images if len(i.boxes)][: per_row - 1]
        negatives = [i for i in merged.images if not len(i.boxes)][:1]
        rows[name] = [(i, fragment[i.file_name]) for i in positives + negatives]
    return rows


def detections_per_image(detections: Any, indices: Sequence[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(n, 7) detection rows ``[image index, x, y, w, h, score, class]`` -> per chosen image (xyxy boxes, scores)."""
    rows = np.asarray(detections, dtype=np.float64).reshape(-1, 7)
    per_image = []
    for index in indices:
        mine = rows[rows[:, 0] == index]
        boxes = np.concatenate([mine[:, 1:3], mine[:, 1:3] + mine[:, 3:5]], axis=1)
        per_image.append((boxes, mine[:, 5]))
    return per_image


def teacher_student_curves(runs: Sequence[ArmRun]) -> dict[str, list[Curve]]:
    """Arm -> the curve of each of its seeds, for the teacher-student arms."""
    curves: dict[str, list[Curve]] = {}
    for run in runs:
        if run.method == "teacher_student":
            curves.setdefault(run.arm, []).append(run.curve)
    return curves


def world_samples_figure(rows: dict[str, list[tuple[CocoImage, CocoImage]]]) -> plt.Figure:
    """Per row (e.g. source, target, control) frames with merged (red) and fragment (cyan) boxes."""
    cols = max(len(v) for v in rows.values())
    fig, axes = plt.subplots(len(rows), cols, figsize=(1.9 * cols, 1.6 * len(rows)), squeeze=False)
    for r, (name, frames) in enumerate(rows.items()):
        for c in range(cols):
            ax = axes[r, c]
            ax.set_axis_off()
            if c >= len(frames):
                continue
            merged, fragment = frames[c]
            ax.imshow(_pixels(merged))
            _boxes(ax, fragment.boxes, "cyan", 0.6)
            _boxes(ax, merged.boxes, "red", 1.0)
            ax.set_title(f"{merged.width}x{merged.height}", fontsize=6)
            if c == 0:
                ax.text(-0.08, 0.5, name, transform=ax.transAxes, ha="right", va="center", fontsize=8)
    fig.suptitle("smoke world: merged boxes (red, one per plume) and fragment boxes (cyan, one per part)", fontsize=9)
    fig.tight_layout(rect=(0.05, 0, 1, 0.95))
    return fig


def predictions_figure(
    images: Sequence[CocoImage],
    predictions: dict[str, list[tuple[np.ndarray, np.ndarray]]],
    threshold: float,
    title: str,
) -> plt.Figure:
    """Rows: ground truth, then each detector's boxes with score >= ``threshold`` on the same test images."""
    rows = ["ground truth", *predictions]
    fig, axes = plt.subplots(len(rows), len(images), figsize=(1.9 * len(images), 1.7 * len(rows)), squeeze=False)
    for c, image in enumerate(images):
        pixels = _pixels(image)
        for r, name in enumerate(rows):
            ax = axes[r, c]
            ax.imshow(pixels)
            ax.set_axis_off()
            if r == 0:
                _boxes(ax, image.boxes, "lime", 1.0)
            else:
                boxes, scores = predictions[name][c]
                keep = scores >= threshold
                _boxes(ax, boxes[keep], "red" if r == 1 else "orange", 1.0, scores[keep])
            if c == 0:
                ax.text(-0.08, 0.5, name, transform=ax.transAxes, ha="right", va="center", fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0.08, 0, 1, 0.95))
    return fig


def pseudo_label_figure(curves: dict[str, list[list[dict[str, Any]]]]) -> plt.Figure:
    """Pseudo-label precision and recall against the hidden ground truth, per teacher-student arm (mean over seeds)."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for name, per_seed in curves.items():
        for ax, key in zip(axes, ("pseudo_precision", "pseudo_recall", "pseudo_labels")):
            steps = sorted({p["step"] for run in per_seed for p in run if key in p})
            if not steps:
                continue
            means = []
            for step in steps:
                values = [p[key] for run in per_seed for p in run if p["step"] == step and key in p]
                values = [v for v in values if v is not None and np.isfinite(v)]
                means.append(np.mean(values) if values else np.nan)
            ax.plot(steps, means, marker=".", label=name)
    for ax, label in zip(axes, ("precision (IoU >= 0.5)", "recall (IoU >= 0.5)", "pseudo-labels per window")):
        ax.set(xlabel="optimiser step", ylabel=label)
    axes[0].set_ylim(0, 1.02)
    axes[1].set_ylim(0, 1.02)
    axes[0].legend(fontsize=6)
    fig.suptitle("teacher's pseudo-labels on unlabeled target images vs their hidden ground truth", fontsize=9)
    fig.tight_layout()
    return fig


def ap_figure(table: dict[str, dict[str, Any]], title: str) -> plt.Figure:
    """AP50 per arm: mean with the per-seed values as dots."""
    names = list(table)
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(names)), 3.6))
    for i, name in enumerate(names):
        summary = table[name]
        ax.bar(i, summary["mean"], color="tab:blue" if not name.startswith("control") else "tab:grey", alpha=0.7)
        ax.scatter([i] * len(summary["values"]), summary["values"], color="k", s=8, zorder=3)
    ax.set_xticks(range(len(names)), [n.replace("teacher_student", "TS").replace("_coordconv", "+CC") for n in names])
    ax.tick_params(axis="x", rotation=45, labelsize=7)
    ax.set_ylabel("target test AP50")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig
