"""The metrics of a semi-supervised domain adaptation run (``revis.detection.ssda.run_arms``).

COCO AP (pycocotools, ``revis.detection.coco_eval``) of every arm and seed on the merged-label
test file, per-seed summaries per arm, paired gains between arms, the source detectors before
adaptation, the capability gates, the label-policy statistics of the files and the schedule.
:func:`summarize_ssda` returns them as one typed :class:`SsdaMetrics` (serialized by
``revis.reporting.results.to_json``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from revis.datasets.coco import read_coco_detections
from revis.datasets.lada import release_file, release_statistics
from revis.detection.coco_eval import coco_ap, coco_results
from revis.detection.ssda_runs import ArmRun, Curve, PretrainRun
from revis.reporting.summary import mean_std_by_seed
from revis.world.smoke import SmokeWorldFolder

STAT_SPLITS = ("source", "target_0.5", "target_1", "target_3", "test")
SPLIT_SUFFIXES = ("05", "1", "3")  # 0.5 %, 1 %, 3 % of the target pool labeled (revis.detection.ssda)
Summary = dict[str, Any]  # revis.reporting.summary.mean_std: mean, std, n, values, seeds


@dataclass(frozen=True)
class OverrunBounds:
    """The COCO reader's border-overrun bound (``revis.datasets.boxes``)."""

    max_overrun: float
    max_overrun_fraction: float


@dataclass
class CocoScorer:
    """COCO AP of detection rows on release label files; each merged file's image ids are read once."""

    bounds: OverrunBounds
    _image_ids: dict[str, list[int]] = field(default_factory=dict)

    def image_ids(self, path: Path) -> list[int]:
        if str(path) not in self._image_ids:
            images = read_coco_detections(
                path,
                None,
                check_files=False,
                max_overrun=self.bounds.max_overrun,
                max_overrun_fraction=self.bounds.max_overrun_fraction,
            ).images
            self._image_ids[str(path)] = [i.image_id for i in images]
        return self._image_ids[str(path)]

    def results(self, merged: Path, detections: Any) -> list[dict[str, Any]]:
        """COCO result dicts of (n, 7) detection rows on the images of one merged-label file."""
        return coco_results(detections, self.image_ids(merged))

    def ap(self, labels: Path, split: str, detections: Any) -> dict[str, float]:
        """COCO AP of detections on one merged-label split file."""
        path = release_file(labels, split, "merged")
        return coco_ap(path, self.results(path, detections))


@dataclass(frozen=True)
class RunScore:
    """One arm x seed: ``values`` holds ap50, ap50_95, ap75, ar100 (test), ap50_<further split>,
    ap50_fragment_test, the final teacher's pseudo_precision / pseudo_recall on a fixed pool sample and
    the last training windows' pseudo_precision_training / pseudo_recall_training where they exist."""

    arm: str
    seed: int
    world: str
    values: Mapping[str, float]
    policy: str = "merged"  # the label policy the arm trained on (and its pseudo-labels are scored against)


@dataclass(frozen=True)
class PseudoLabels:
    """``precision`` / ``recall``: the final teacher on a fixed sample of the unlabeled pool (what the gate
    reads); ``training_*``: the mean of the last training windows (a few random images per step: noisy)."""

    precision: dict[str, Summary]
    recall: dict[str, Summary]
    training_precision: dict[str, Summary]
    training_recall: dict[str, Summary]


@dataclass(frozen=True)
class ScheduleSummary:
    steps_min: int
    steps_max: int
    pretrain_steps: int
    adaptation_steps: int
    burn_in: int
    pretrainings: int
    unlabeled_images: int


@dataclass(frozen=True)
class SsdaMetrics:
    """metrics.json of lada (keys as in the file; per-arm tables are per-seed summaries)."""

    ap50: dict[str, Summary]
    ap50_95: dict[str, Summary]
    ap50_fragment_test: dict[str, Summary]
    ap50_test_heldout: dict[str, Summary]
    pretrained_ap50: dict[str, Summary]
    pretrained_source_ap50: dict[str, Summary]
    gate: dict[str, Summary]
    pseudo_labels: PseudoLabels
    gain_ap50: dict[str, Summary]
    schedule: ScheduleSummary
    labels: dict[str, Any]
    scale: str


def label_folders(
    world: SmokeWorldFolder, control: SmokeWorldFolder, release_labels: str | None, real_release: bool
) -> dict[str, Path]:
    """The label folder of each data source: ``main`` (the world's or the real release's) and ``control``."""
    if real_release and release_labels is None:
        raise ValueError("runs on the real release need its label folder (release_labels)")
    main = Path(release_labels) if real_release and release_labels is not None else world.labels
    return {"main": main, "control": control.labels}


def label_statistics(
    world: SmokeWorldFolder, control: SmokeWorldFolder, release_labels: str | None, bounds: OverrunBounds
) -> dict[str, Any]:
    """Label-policy statistics of the world's files (read back by the reader), the generator's truth, the real files."""
    limits = {"max_overrun": bounds.max_overrun, "max_overrun_fraction": bounds.max_overrun_fraction}
    stats: dict[str, Any] = {"world": release_statistics(world.labels, world.images, STAT_SPLITS, **limits)}
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
    stats["control"] = release_statistics(control.labels, control.images, ("source",), **limits)
    if release_labels is not None:  # the real LADA files: images are not needed for statistics
        stats["release"] = release_statistics(release_labels, None, STAT_SPLITS, **limits)
    return stats


def final_pseudo(curve: Curve, last: int = 3) -> dict[str, float]:
    """Mean pseudo-label precision and recall over the last ``last`` teacher-student points of a curve."""
    points = [p for p in curve if p.get("phase") == "teacher_student"][-last:]
    out = {}
    for key, name in (("pseudo_precision", "precision"), ("pseudo_recall", "recall")):
        values = [p[key] for p in points if key in p and p[key] is not None and np.isfinite(p[key])]
        if values:
            out[name] = float(np.mean(values))
    return out


def pseudo_values(curve: Curve, final: Mapping[str, float]) -> dict[str, float]:
    """``pseudo_precision`` / ``pseudo_recall``: the final teacher on its fixed pool sample (``ArmRun.final_pseudo``);
    ``pseudo_precision_training`` / ``pseudo_recall_training``: the last training windows (:func:`final_pseudo`)."""
    out = {f"pseudo_{k}_training": v for k, v in final_pseudo(curve).items()}
    for key in ("precision", "recall"):
        if key in final and np.isfinite(final[key]):
            out[f"pseudo_{key}"] = float(final[key])
    return out


def score_run(run: ArmRun, labels: Path, scorer: CocoScorer) -> RunScore:
    """AP of one arm x seed on the test split, its further readings, the fragment labels, final pseudo-labels."""
    merged_test = release_file(labels, "test", "merged")
    results = scorer.results(merged_test, run.detections)
    values = dict(coco_ap(merged_test, results))
    for split, detections in run.detections_by_split.items():  # held-out cameras: second reading
        values[f"ap50_{split}"] = scorer.ap(labels, split, detections)["ap50"]
    fragment_test = release_file(labels, "test", "fragment")  # the world's; the real release has none
    if run.world == "main" and fragment_test.is_file() and run.arm.startswith("teacher_student"):
        values["ap50_fragment_test"] = coco_ap(fragment_test, results)["ap50"]
    values.update(pseudo_values(run.curve, run.final_pseudo))
    return RunScore(run.arm, run.seed, run.world, values, run.policy)


def arm_tables(scores: Sequence[RunScore], key: str) -> dict[str, Summary]:
    """Per arm, the per-seed summary of ``key`` (arms without it are left out)."""
    by_arm: dict[str, dict[int, float]] = defaultdict(dict)
    for score in scores:
        if key in score.values:
            by_arm[score.arm][score.seed] = score.values[key]
    return {arm: mean_std_by_seed(v) for arm, v in by_arm.items()}


def paired_difference(table: Mapping[str, Mapping[int, float]], minuend: str, subtrahend: str) -> Summary | None:
    """Per-seed differences minuend - subtrahend over the seeds both arms have (None when there are none)."""
    if minuend not in table or subtrahend not in table:
        return None
    seeds = set(table[minuend]) & set(table[subtrahend])
    if not seeds:
        return None
    return mean_std_by_seed({s: table[minuend][s] - table[subtrahend][s] for s in seeds})


def comparisons(suffix: str) -> dict[str, tuple[str, str]]:
    """The paired gains at one labeled split: name -> (arm, arm it is compared with)."""
    return {
        f"adaptation_{suffix}": (f"teacher_student_{suffix}", "source_only"),
        f"unlabeled_{suffix}": (f"teacher_student_{suffix}", f"supervised_{suffix}"),
        f"coordconv_{suffix}": (f"teacher_student_coordconv_{suffix}", f"teacher_student_{suffix}"),
        f"coordconv_control_{suffix}": (
            f"control_teacher_student_coordconv_{suffix}",
            f"control_teacher_student_{suffix}",
        ),
        f"merged_over_fragment_{suffix}": (f"teacher_student_{suffix}", f"teacher_student_fragment_{suffix}"),
        f"adversarial_{suffix}": (f"teacher_student_adversarial_{suffix}", f"teacher_student_{suffix}"),
    }


def gains(scores: Sequence[RunScore]) -> dict[str, Summary]:
    """Paired AP50 gains of every comparison whose two arms ran."""
    raw: dict[str, dict[int, float]] = defaultdict(dict)
    for score in scores:
        raw[score.arm][score.seed] = score.values["ap50"]
    out: dict[str, Summary] = {}
    for suffix in SPLIT_SUFFIXES:
        for name, (a, b) in comparisons(suffix).items():
            difference = paired_difference(raw, a, b)
            if difference is not None:
                out[name] = difference
    return out


def gate_metrics(scores: Sequence[RunScore], source_ap50: Mapping[int, float]) -> dict[str, Summary]:
    """What the capability gates of claims/lada.yaml read, one value per seed.

    ``source_ap50``: the source detector (main world, merged labels) on held-out source frames;
    ``pseudo_recall``: per seed, the lowest pseudo-label recall of the final teachers on their fixed pool
    sample over the main world's merged-label teacher-student arms (the arms the paper claims compare);
    ``pseudo_recall_control``: the same over the control world's arms (the positional claim compares them).
    The fragment-label arm is in neither: it only enters the label-policy sanity check, whose subject is how
    much worse fragment labels (and so its pseudo-labels, scored against fragment boxes) are.
    """
    gates: dict[str, Summary] = {}
    if source_ap50:
        gates["source_ap50"] = mean_std_by_seed(source_ap50)
    readings = {
        "pseudo_recall": lambda s: s.world == "main" and s.policy == "merged",
        "pseudo_recall_control": lambda s: s.world == "control",
    }
    for name, selected in readings.items():
        recall: dict[int, float] = {}
        for score in scores:
            if selected(score) and "pseudo_recall" in score.values:
                recall[score.seed] = min(recall.get(score.seed, 1.0), score.values["pseudo_recall"])
        if recall:
            gates[name] = mean_std_by_seed(recall)
    return gates


@dataclass(frozen=True)
class PretrainedScores:
    """AP50 of the source detectors before adaptation, ``<world>_<policy>`` -> seed -> value."""

    test: dict[str, dict[int, float]]
    source_test: dict[str, dict[int, float]]


def score_pretrained(
    pretrained: Sequence[PretrainRun], labels: Mapping[str, Path], scorer: CocoScorer
) -> PretrainedScores:
    """Each source detector on the target test split and (where it exists) on held-out source frames."""
    test: dict[str, dict[int, float]] = defaultdict(dict)
    source_test: dict[str, dict[int, float]] = defaultdict(dict)
    for model in pretrained:
        folder = labels[model.world]
        name = f"{model.world}_{model.policy}"
        test[name][model.seed] = scorer.ap(folder, "test", model.detections)["ap50"]
        if "source_test" in model.detections_by_split:
            detections = model.detections_by_split["source_test"]
            source_test[name][model.seed] = scorer.ap(folder, "source_test", detections)["ap50"]
    return PretrainedScores(dict(test), dict(source_test))


def schedule_summary(runs: Sequence[ArmRun], pretrained: Sequence[PretrainRun]) -> ScheduleSummary:
    steps = {run.steps for run in runs}
    return ScheduleSummary(
        steps_min=min(steps),
        steps_max=max(steps),
        pretrain_steps=pretrained[0].steps,
        adaptation_steps=runs[0].adaptation_steps,
        burn_in=runs[0].burn_in,
        pretrainings=len(pretrained),
        unlabeled_images=max(run.unlabeled_images for run in runs),
    )


def smoke_world_description(truth: Mapping[str, Any]) -> str:
    """The smoke world's sizes in words (``truth``: its world.json)."""
    images, cameras = truth["images"], truth["cameras"]
    return (
        f"the smoke world ({images['source']} source images, {cameras['source']} cameras; "
        f"target pool {images['target_pool']} images of {cameras['target']} cameras, "
        f"{images['target_1']} labeled at 1 %; test {images['test']} other frames of the pool's "
        f"cameras, as in the release; second reading {images['test_heldout']} images of "
        f"{cameras['test_heldout']} held-out cameras)"
    )


def pretraining_sharing(pretrained: Sequence[PretrainRun], seeds: int) -> str:
    """Which source pretrainings are trained per seed and which are shared by all seeds, in words."""
    draws: dict[str, set[int]] = defaultdict(set)
    for model in pretrained:
        draws[f"{model.world}_{model.policy}"].add(model.seed)
    per_seed = [name for name, drawn in draws.items() if len(drawn) >= seeds]
    shared = [name for name in draws if name not in per_seed]
    if not shared:
        return "one per seed"
    if not per_seed:
        return "shared by all seeds"
    return f"one per seed: {', '.join(per_seed)}; shared by all seeds: {', '.join(shared)}"


def scale_text(runs: Sequence[ArmRun], pretrained: Sequence[PretrainRun], where: str) -> str:
    """The run's scale in words: data, detector, steps, seeds (which pretrainings they vary), how AP is computed."""
    seeds = {run.seed for run in runs}
    run0 = runs[0]
    return (
        f"{where}; YOLOv8n from its yaml; every arm {run0.steps} optimiser steps: "
        f"{run0.steps - run0.adaptation_steps} of source pretraining "
        f"({pretraining_sharing(pretrained, len(seeds))}), {run0.adaptation_steps} of adaptation "
        f"({run0.burn_in} burn-in); {len(seeds)} seeds; AP by pycocotools on the merged-label test file"
    )


def summarize_ssda(
    runs: Sequence[ArmRun],
    pretrained: Sequence[PretrainRun],
    labels: Mapping[str, Path],
    scorer: CocoScorer,
    label_stats: dict[str, Any],
    where: str,
) -> SsdaMetrics:
    """metrics.json of an SSDA experiment (module doc); ``labels``: the label folder of each data source,
    ``label_stats``: :func:`label_statistics`, ``where``: the data in words."""
    scores = [score_run(run, labels[run.world], scorer) for run in runs]
    before = score_pretrained(pretrained, labels, scorer)
    return SsdaMetrics(
        ap50=arm_tables(scores, "ap50"),
        ap50_95=arm_tables(scores, "ap50_95"),
        ap50_fragment_test=arm_tables(scores, "ap50_fragment_test"),
        ap50_test_heldout=arm_tables(scores, "ap50_test_heldout"),
        pretrained_ap50={k: mean_std_by_seed(v) for k, v in before.test.items()},
        pretrained_source_ap50={k: mean_std_by_seed(v) for k, v in before.source_test.items()},
        gate=gate_metrics(scores, before.source_test.get("main_merged", {})),
        pseudo_labels=PseudoLabels(
            arm_tables(scores, "pseudo_precision"),
            arm_tables(scores, "pseudo_recall"),
            arm_tables(scores, "pseudo_precision_training"),
            arm_tables(scores, "pseudo_recall_training"),
        ),
        gain_ap50=gains(scores),
        schedule=schedule_summary(runs, pretrained),
        labels=label_stats,
        scale=scale_text(runs, pretrained, where),
    )
