"""The metrics of the Bi-ICE study (``reports/biice/metrics.json``), over the seeds.

:func:`collect_scores` scores every kept run (``revis.concepts.scoring.score_run`` for the
concept heads) into ``per[variant][measure]``, one entry per seed in seed order, which the
pictures (``revis.concepts.pictures``) also read; :func:`summarize_study` turns it into typed
results, every measure a sample over the seeds paired by seed (``mean_std``), serialized by
``revis.reporting.results.to_json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from revis.concepts.contributions import chance_precision
from revis.concepts.data import ConceptData
from revis.concepts.rates import candidate_table
from revis.concepts.runs import CONCEPT_HEADS
from revis.concepts.scoring import score_run
from revis.reporting.summary import majority_class_rate, mean_std

Sample = dict[str, Any]  # mean_std's summary: mean, std, n, values, seeds
PerVariant = dict[str, dict[str, list[Any]]]  # variant -> measure -> one entry per seed, in seed order

SLOT_MATCHING = (
    "Hungarian matching of slots to concepts on the seed's match split of the test set (mean IoU of slot "
    "maps with concept masks, or, without masks, the slot's extra attention mass on images showing the "
    "concept); used for biice, while biice_expl keeps slot k = concept k by construction"
)


@dataclass(frozen=True)
class StudyScores:
    """Every kept run's scores, ``per[variant][measure]`` (seed order), and the slot -> concept assignment of
    each concept-head run."""

    per: PerVariant
    assignments: dict[str, np.ndarray]

    @property
    def concept_variants(self) -> list[str]:
        """The concept heads the study ran, in ``CONCEPT_HEADS`` order."""
        return [v for v in CONCEPT_HEADS if v in self.per]


def _record_run(acc: dict[str, list[Any]], record: dict[str, Any], kept: dict[str, Any], labels: np.ndarray) -> None:
    """What every head is scored on: its seed, learning rate, test and validation accuracy."""
    acc.setdefault("seed", []).append(record["seed"])
    acc.setdefault("lr", []).append(record["lr"])
    acc.setdefault("accuracy", []).append(float((record["logits"].argmax(1).numpy() == labels).mean()))
    acc.setdefault("validation_accuracy", []).append(kept["validation_accuracy"])
    acc.setdefault("epochs_run", []).append(len(kept["loss"]))
    acc.setdefault("best_epoch", []).append(kept.get("best_epoch") or len(kept["loss"]))  # 0: the last was kept


def collect_scores(
    attributions: dict[str, Any],
    histories: dict[str, Any],
    data: ConceptData,
    iou_threshold: float,
    random_maps: int,
) -> StudyScores:
    """Score every kept run on the held-out test images, in (variant, seed) order."""
    test = data.test
    per: PerVariant = {}
    assignments: dict[str, np.ndarray] = {}
    for run, record in sorted(attributions["runs"].items(), key=lambda item: (item[1]["variant"], item[1]["seed"])):
        variant, seed = record["variant"], record["seed"]
        acc = per.setdefault(variant, {})
        kept = histories[f"{variant}/seed{seed}/lr{record['lr']:g}"]
        _record_run(acc, record, kept, test.labels)
        if variant not in CONCEPT_HEADS:
            continue
        split = attributions["splits"][seed]
        scores = score_run(record, test, split, data.rules, iou_threshold, random_maps)
        assignments[run] = scores["slot_of"]
        for key, value in scores.items():
            acc.setdefault(key, []).append(value)
        acc.setdefault("slot_drift", []).append(np.asarray(kept["slot_drift"]))
        acc.setdefault("bound_drift", []).append(np.asarray(kept["bound_drift"]))
    return StudyScores(per, assignments)


@dataclass(frozen=True)
class Localization:
    """Pointing game and IoU of each concept's map against its mask, beside the run's own maps with the
    patches shuffled per image; per concept the mean over seeds (NaN-skipping)."""

    iou: Sample
    pointing_game: Sample
    iou_shuffled: Sample
    pointing_game_shuffled: Sample
    per_concept: dict[str, dict[str, float]]


@dataclass(frozen=True)
class Faithfulness:
    """Patch-deletion drop AUC per order: concept attention, random, per-patch logit, and where the images have
    concept masks the known answer: the patches of the predicted class's rule concepts first."""

    concept_attention_drop_auc: Sample
    random_drop_auc: Sample
    per_patch_logit_drop_auc: Sample
    ground_truth_mask_drop_auc: Sample | None = None


@dataclass(frozen=True)
class ContributionScores:
    """precision@k of each class's top-contributing concepts (and by attention mass alone) against the rules;
    how far the contributions are from summing to the logit."""

    precision_at_k: Sample
    mass_precision_at_k: Sample
    sum_to_logit_max_abs_error: float


@dataclass(frozen=True)
class Convergence:
    """Binding-step ratio last/first iteration (trained and untrained head), slot and bound drift per epoch."""

    binding_step_ratio_last_to_first: Sample
    binding_step_ratio_untrained: Sample
    slot_drift_first_epoch: Sample
    slot_drift_last_epoch: Sample
    bound_drift_first_epoch: Sample
    bound_drift_last_epoch: Sample


@dataclass(frozen=True)
class BiiceMetrics:
    """metrics.json of a Bi-ICE run whose test images have no concept masks (no ``localisation``)."""

    accuracy: dict[str, Sample]
    validation_accuracy: dict[str, Sample]
    learning_rate: dict[str, dict[str, list[Any]]]  # variant -> the kept rate ("values") per seed ("seeds")
    # the per-seed choice: rule, probe length, per head its candidates and per seed their probe scores and the pick
    lr_selection: dict[str, Any]
    # variant -> "run" (epochs trained before the stopping rule ended it) and "kept" (the epoch whose weights
    # are kept), per seed
    epochs: dict[str, dict[str, Sample]]
    chance_accuracy: float
    faithfulness: dict[str, Faithfulness]
    contributions: dict[str, ContributionScores | float]  # per concept head, and "chance_precision_at_k"
    convergence: dict[str, Convergence]
    slot_matching: dict[str, str | dict[str, Sample]]  # "method", and per concept head
    scale: str


@dataclass(frozen=True)
class LocalizedBiiceMetrics(BiiceMetrics):
    """metrics.json of a Bi-ICE run on images with concept masks: ``localisation`` too."""

    localisation: dict[str, Localization]


def _sample(per: dict[str, list[Any]], key: str) -> Sample:
    return mean_std(per[key], per["seed"])


def localization(per: dict[str, list[Any]], names: list[str]) -> Localization:
    return Localization(
        iou=_sample(per, "iou"),
        pointing_game=_sample(per, "pointing"),
        iou_shuffled=_sample(per, "iou_shuffled"),
        pointing_game_shuffled=_sample(per, "pointing_shuffled"),
        per_concept={
            name: {
                "iou": float(np.nanmean(np.stack(per["iou_per_concept"])[:, k])),
                "pointing_game": float(np.nanmean(np.stack(per["pointing_per_concept"])[:, k])),
            }
            for k, name in enumerate(names)
        },
    )


def faithfulness(per: dict[str, list[Any]]) -> Faithfulness:
    return Faithfulness(
        concept_attention_drop_auc=_sample(per, "deletion_concept_attention"),
        random_drop_auc=_sample(per, "deletion_random"),
        per_patch_logit_drop_auc=_sample(per, "deletion_per_patch_logit"),
        ground_truth_mask_drop_auc=_sample(per, "deletion_ground_truth") if "deletion_ground_truth" in per else None,
    )


def contribution_scores(per: dict[str, list[Any]]) -> ContributionScores:
    return ContributionScores(
        precision_at_k=_sample(per, "precision"),
        mass_precision_at_k=_sample(per, "mass_precision"),
        sum_to_logit_max_abs_error=float(max(per["sum_error"])),
    )


def convergence(per: dict[str, list[Any]]) -> Convergence:
    seeds = per["seed"]
    return Convergence(
        binding_step_ratio_last_to_first=_sample(per, "binding_ratio"),
        binding_step_ratio_untrained=_sample(per, "binding_ratio_untrained"),
        slot_drift_first_epoch=mean_std([d[0] for d in per["slot_drift"]], seeds),
        slot_drift_last_epoch=mean_std([d[-1] for d in per["slot_drift"]], seeds),
        bound_drift_first_epoch=mean_std([d[0] for d in per["bound_drift"]], seeds),
        bound_drift_last_epoch=mean_std([d[-1] for d in per["bound_drift"]], seeds),
    )


def scale_line(scores: StudyScores, data: ConceptData, evaluated_images: int) -> str:
    """What the run measured, in words (metrics.json's ``scale``)."""
    seeds = sorted({s for r in scores.per.values() for s in r["seed"]})
    test = data.test
    return (
        f"{data.source}: {len(data.train)} train images (each seed carves its validation split from them) / "
        f"{len(test)} test images, {len(test.concept_names)} concepts, {test.num_classes} classes; "
        f"heads {', '.join(scores.per)}; {len(seeds)} seeds (validation split, initialisation, batches, learning-rate "
        f"pick, test match split); localisation and contributions on the {evaluated_images} test images "
        "not used to match slots"
    )


def first_split(scores: StudyScores, attributions: dict[str, Any]) -> dict[str, Any]:
    """The test split of the first seed (its held-out images are the ones the pictures show)."""
    seeds = sorted({s for r in scores.per.values() for s in r["seed"]})
    return attributions["splits"][seeds[0]]


def summarize_study(
    scores: StudyScores, data: ConceptData, attributions: dict[str, Any], histories: dict[str, Any]
) -> BiiceMetrics:
    """metrics.json: every measure as mean and sample sd over seeds, paired by seed; ``localisation`` where the
    test images have concept masks."""
    per, variants = scores.per, scores.concept_variants
    names = list(data.test.concept_names)
    fields: dict[str, Any] = {
        "accuracy": {v: _sample(r, "accuracy") for v, r in per.items()},
        "validation_accuracy": {v: _sample(r, "validation_accuracy") for v, r in per.items()},
        "learning_rate": {v: {"values": r["lr"], "seeds": r["seed"]} for v, r in per.items()},
        "lr_selection": candidate_table(histories),
        "epochs": {v: {"run": _sample(r, "epochs_run"), "kept": _sample(r, "best_epoch")} for v, r in per.items()},
        "chance_accuracy": majority_class_rate(data.train.labels, data.train.num_classes),
        "faithfulness": {v: faithfulness(per[v]) for v in variants},
        "contributions": {
            **{v: contribution_scores(per[v]) for v in variants},
            "chance_precision_at_k": chance_precision(data.rules, len(names)),
        },
        "convergence": {v: convergence(per[v]) for v in variants},
        "slot_matching": {
            "method": SLOT_MATCHING,
            **{
                v: {"hungarian_agrees_with_identity": _sample(per[v], "hungarian_agrees_with_identity")}
                for v in variants
            },
        },
        "scale": scale_line(scores, data, len(first_split(scores, attributions)["eval_index"])),
    }
    if data.test.concept_masks is not None and variants:
        return LocalizedBiiceMetrics(**fields, localisation={v: localization(per[v], names) for v in variants})
    return BiiceMetrics(**fields)
