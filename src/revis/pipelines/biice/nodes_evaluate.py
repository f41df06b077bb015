"""``biice-evaluate``: accuracy, localisation, faithfulness, contributions, convergence over seeds; four pictures."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from revis.concepts import pictures
from revis.concepts.contributions import chance_precision
from revis.concepts.data import load_concept_data
from revis.concepts.runs import CONCEPT_HEADS
from revis.concepts.scoring import score_run
from revis.pipelines.biice.params import DataParams, EvaluateParams
from revis.reporting.summary import mean_std

SCALARS = (
    "iou",
    "pointing",
    "iou_shuffled",
    "pointing_shuffled",
    "precision",
    "mass_precision",
    "deletion_concept_attention",
    "deletion_random",
    "deletion_per_patch_logit",
    "binding_ratio",
    "binding_ratio_untrained",
    "hungarian_agrees_with_identity",
)


def _sample(per: dict[str, list], key: str) -> dict[str, Any]:
    return mean_std(per[key], per["seed"])


def evaluate_models(
    attributions: dict[str, Any],
    histories: dict[str, Any],
    shapes: dict[str, Any],
    data: DataParams,
    evaluate: EvaluateParams,
) -> tuple[dict[str, Any], plt.Figure, plt.Figure, plt.Figure, plt.Figure]:
    """metrics.json (every measure as mean and sample sd over seeds, paired by seed) and four pictures."""
    loaded = load_concept_data(shapes, data.dataset, data.root, data.image_size, data.rule_min_frequency)
    test = loaded.test
    names = list(test.concept_names)
    per: dict[str, dict[str, list]] = {}
    assignments: dict[str, np.ndarray] = {}
    for run, record in sorted(attributions["runs"].items(), key=lambda item: (item[1]["variant"], item[1]["seed"])):
        variant, seed = record["variant"], record["seed"]
        acc = per.setdefault(variant, {})
        kept = histories[f"{variant}/seed{seed}/lr{record['lr']:g}"]
        acc.setdefault("seed", []).append(seed)
        acc.setdefault("lr", []).append(record["lr"])
        acc.setdefault("accuracy", []).append(float((record["logits"].argmax(1).numpy() == test.labels).mean()))
        acc.setdefault("validation_accuracy", []).append(kept["validation_accuracy"])
        if variant not in CONCEPT_HEADS:
            continue
        split = attributions["splits"][seed]
        scores = score_run(record, test, split, loaded.rules, evaluate.iou_threshold, evaluate.random_maps)
        assignments[run] = scores["slot_of"]
        for key, value in scores.items():
            acc.setdefault(key, []).append(value)
        acc.setdefault("slot_drift", []).append(np.asarray(kept["slot_drift"]))
        acc.setdefault("bound_drift", []).append(np.asarray(kept["bound_drift"]))
    concept_variants = [v for v in CONCEPT_HEADS if v in per]
    metrics: dict[str, Any] = {
        "accuracy": {v: _sample(r, "accuracy") for v, r in per.items()},
        "validation_accuracy": {v: _sample(r, "validation_accuracy") for v, r in per.items()},
        "learning_rate": {v: {"values": r["lr"], "seeds": r["seed"]} for v, r in per.items()},
        "chance_accuracy": float(np.bincount(loaded.train.labels).max() / len(loaded.train)),
    }
    if test.concept_masks is not None and concept_variants:
        metrics["localisation"] = {
            v: {
                "iou": _sample(per[v], "iou"),
                "pointing_game": _sample(per[v], "pointing"),
                "iou_shuffled": _sample(per[v], "iou_shuffled"),
                "pointing_game_shuffled": _sample(per[v], "pointing_shuffled"),
                "per_concept": {
                    name: {
                        "iou": float(np.nanmean(np.stack(per[v]["iou_per_concept"])[:, k])),
                        "pointing_game": float(np.nanmean(np.stack(per[v]["pointing_per_concept"])[:, k])),
                    }
                    for k, name in enumerate(names)
                },
            }
            for v in concept_variants
        }
    metrics["faithfulness"] = {
        v: {
            "concept_attention_drop_auc": _sample(per[v], "deletion_concept_attention"),
            "random_drop_auc": _sample(per[v], "deletion_random"),
            "per_patch_logit_drop_auc": _sample(per[v], "deletion_per_patch_logit"),
        }
        for v in concept_variants
    }
    metrics["contributions"] = {
        **{
            v: {
                "precision_at_k": _sample(per[v], "precision"),
                "mass_precision_at_k": _sample(per[v], "mass_precision"),
                "sum_to_logit_max_abs_error": float(max(per[v]["sum_error"])),
            }
            for v in concept_variants
        },
        "chance_precision_at_k": chance_precision(loaded.rules, len(names)),
    }
    metrics["convergence"] = {
        v: {
            "binding_step_ratio_last_to_first": _sample(per[v], "binding_ratio"),
            "binding_step_ratio_untrained": _sample(per[v], "binding_ratio_untrained"),
            "slot_drift_first_epoch": mean_std([d[0] for d in per[v]["slot_drift"]], per[v]["seed"]),
            "slot_drift_last_epoch": mean_std([d[-1] for d in per[v]["slot_drift"]], per[v]["seed"]),
            "bound_drift_first_epoch": mean_std([d[0] for d in per[v]["bound_drift"]], per[v]["seed"]),
            "bound_drift_last_epoch": mean_std([d[-1] for d in per[v]["bound_drift"]], per[v]["seed"]),
        }
        for v in concept_variants
    }
    metrics["slot_matching"] = {
        "method": (
            "Hungarian matching of slots to concepts on the seed's match split of the test set (mean IoU of slot "
            "maps with concept masks, or, without masks, the slot's extra attention mass on images showing the "
            "concept); used for biice, while biice_expl keeps slot k = concept k by construction"
        ),
        **{
            v: {"hungarian_agrees_with_identity": _sample(per[v], "hungarian_agrees_with_identity")}
            for v in concept_variants
        },
    }
    seeds = sorted({s for r in per.values() for s in r["seed"]})
    first = attributions["splits"][seeds[0]]
    metrics["scale"] = (
        f"{loaded.source}: {len(loaded.train)} train images (each seed carves its validation split from them) / "
        f"{len(test)} test images, {len(names)} concepts, {test.num_classes} classes; "
        f"heads {', '.join(per)}; {len(seeds)} seeds (validation split, initialisation, batches, learning-rate "
        f"pick, test match split); localisation and contributions on the {len(first['eval_index'])} test images "
        "not used to match slots"
    )
    figures = (
        pictures.concept_maps(test, attributions["runs"], first["picture_index"], assignments, names),
        pictures.contributions(per, concept_variants, names, test.class_names, loaded.rules),
        pictures.convergence(per, concept_variants),
        pictures.deletion(per, concept_variants),
    )
    return metrics, *figures
