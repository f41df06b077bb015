"""Nodes of the ``biice`` pipeline: train -> attribute -> evaluate."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch

from revis.concepts import ConceptTrainConfig, train_concept_classifier
from revis.concepts.biice import build_concept_classifier, explain_batches
from revis.concepts.contributions import chance_precision, class_concept_scores, derive_rules, precision_at_k
from revis.concepts.deletion import deletion_curves, drop_auc, random_orders
from revis.concepts.localisation import (
    diagonal_scores,
    iou_matrix,
    match_slots,
    nanmean_per_concept,
    pointing_matrix,
    random_maps,
)
from revis.datasets.cifar import read_cifar100_concepts
from revis.datasets.cub import read_cub
from revis.datasets.imageset import ImageSet
from revis.pipelines.biice import pictures
from revis.pipelines.biice.params import AttributeParams, ComputeParams, DataParams, EvaluateParams, TrainParams
from revis.reporting.summary import mean_std
from revis.training import predict_logits


@dataclass
class ConceptData:
    train: ImageSet
    test: ImageSet
    rules: list[list[int]]  # class -> indices of the concepts that define it
    source: str


def load_concept_data(shapes: dict[str, Any], data: dict[str, Any]) -> ConceptData:
    """The shapes world (rules from world.json), or CIFAR-100 / CUB read from ``data.root``."""
    params = DataParams.model_validate(data)
    if params.dataset == "shapes":
        train, test = shapes["train"], shapes["test"]
        by_class = shapes["rules"]["classes"]
        rules = [[train.concept_names.index(c) for c in by_class[name]] for name in train.class_names]
        return ConceptData(train, test, rules, "shapes world")
    if params.dataset == "cifar100":
        train, test = (read_cifar100_concepts(params.root, split) for split in ("train", "test"))
    else:
        train, test = (read_cub(params.root, split, params.image_size) for split in ("train", "test"))
    rules = derive_rules(train.concept_presence, train.labels, train.num_classes, params.rule_min_frequency)
    return ConceptData(train, test, rules, params.dataset)


@contextmanager
def _compute(compute: dict[str, Any]) -> Iterator[str]:
    """Pin torch's CPU threads for the node (restored after); yields the device to run on."""
    params = ComputeParams.model_validate(compute)
    if params.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("biice.compute.device is 'cuda' but no CUDA device is available")
    previous = torch.get_num_threads()
    torch.set_num_threads(params.threads)
    try:
        yield params.device
    finally:
        torch.set_num_threads(previous)


def _build(models: dict[str, Any], variant: str) -> torch.nn.Module:
    shape = models["shape"]
    return build_concept_classifier(
        variant,
        models["backbone"],
        shape["channels"],
        shape["classes"],
        shape["image_size"],
        shape["concepts"],
        **models["head"],
    )


def train_models(
    shapes: dict[str, Any], data: dict[str, Any], compute: dict[str, Any], train: dict[str, Any]
) -> tuple[dict, dict]:
    """Every variant (linear head, Bi-ICE, Bi-ICE + concept supervision) x seed on the same backbone."""
    with _compute(compute) as device:
        return _train_models(shapes, data, TrainParams.model_validate(train), device)


def _train_models(shapes: dict[str, Any], data: dict[str, Any], params: TrainParams, device: str) -> tuple[dict, dict]:
    loaded = load_concept_data(shapes, data)
    x, y = loaded.train.tensors()
    masks = None if loaded.train.concept_masks is None else torch.from_numpy(loaded.train.concept_masks)
    presence = None if loaded.train.concept_presence is None else torch.from_numpy(loaded.train.concept_presence)
    shape = {
        "channels": loaded.train.channels,
        "classes": loaded.train.num_classes,
        "image_size": loaded.train.image_size,
        "concepts": len(loaded.train.concept_names),
    }
    models: dict[str, Any] = {
        "backbone": params.backbone.model_dump(),
        "head": params.head.model_dump(),
        "shape": shape,
        "runs": {},
    }
    histories: dict[str, Any] = {}
    for variant in params.variants:
        for seed in params.seeds:
            torch.manual_seed(seed)
            model = _build(models, variant)
            config = ConceptTrainConfig(
                epochs=params.epochs,
                batch_size=params.batch_size,
                lr=params.lr,
                weight_decay=params.weight_decay,
                warmup_epochs=params.warmup_epochs,
                expl_weight=params.expl_weight if variant == "biice_expl" else 0.0,
                expl_background=params.expl_background,
                sparsity_weight=0.0 if variant == "linear" else params.sparsity_weight,
            )
            start = time.perf_counter()
            history = train_concept_classifier(
                model, x, y, config, seed, masks=masks, presence=presence, device=device, desc=f"{variant} seed {seed}"
            )
            run = f"{variant}/seed{seed}"
            models["runs"][run] = {"variant": variant, "seed": seed, "state_dict": model.state_dict()}
            histories[run] = {**history.to_dict(), "seconds": time.perf_counter() - start}
    return models, histories


def _test_split(n: int, params: AttributeParams) -> tuple[torch.Tensor, torch.Tensor]:
    order = torch.randperm(n, generator=torch.Generator().manual_seed(params.split_seed))
    cut = round(params.match_fraction * n)
    return order[:cut].sort().values, order[cut:].sort().values


def _picture_indices(labels: np.ndarray, candidates: torch.Tensor, count: int) -> torch.Tensor:
    """Up to ``count`` images from ``candidates``, cycling through the classes."""
    chosen: list[int] = []
    pools = {c: [int(i) for i in candidates if labels[i] == c] for c in np.unique(labels)}
    while len(chosen) < count and any(pools.values()):
        for pool in pools.values():
            if pool and len(chosen) < count:
                chosen.append(pool.pop(0))
    return torch.tensor(chosen, dtype=torch.int64)


def attribute_models(
    models: dict[str, Any],
    shapes: dict[str, Any],
    data: dict[str, Any],
    compute: dict[str, Any],
    attribute: dict[str, Any],
) -> dict[str, Any]:
    """Per run on the test split: logits, concept maps A, contributions, binding traces, deletion curves."""
    with _compute(compute) as device:
        return _attribute_models(models, shapes, data, AttributeParams.model_validate(attribute), device)


def _attribute_models(
    models: dict[str, Any], shapes: dict[str, Any], data: dict[str, Any], params: AttributeParams, device: str
) -> dict[str, Any]:
    loaded = load_concept_data(shapes, data)
    x, y = loaded.test.tensors()
    match, held_out = _test_split(len(x), params)
    spatial = loaded.test.concept_masks is not None
    pictures_at = _picture_indices(loaded.test.labels, held_out, params.picture_images)
    deletion_at = held_out[: params.deletion_images]
    out: dict[str, Any] = {
        "match_index": match,
        "eval_index": held_out,
        "picture_index": pictures_at,
        "deletion_index": deletion_at,
        "runs": {},
    }
    for run, saved in models["runs"].items():
        model = _build(models, saved["variant"])
        model.load_state_dict(saved["state_dict"])
        model.eval().to(device)
        if saved["variant"] == "linear":
            out["runs"][run] = {
                "variant": "linear",
                "seed": saved["seed"],
                "logits": predict_logits(model, x, device=device).cpu(),
            }
            continue
        grid = model.grid
        ex = explain_batches(model, x, device=device)
        labels = torch.from_numpy(loaded.test.labels)
        contributions = ex["contributions"]
        record = {
            "variant": saved["variant"],
            "seed": saved["seed"],
            "grid": grid,
            "logits": ex["logits"],
            # only the slice that is analysed: contributions to each image's own class, (N, K)
            "own_contributions": contributions[torch.arange(len(x)), labels],
            "contribution_sum_error": float((contributions.sum(-1) - ex["logits"]).abs().max()),
            "mass": ex["attention"].mean(1),  # (N, K) attention mass per concept
            "binding_steps": ex["binding_steps"],
            "trace": explain_batches(model, x[held_out[:256]], iterations=params.trace_iterations, device=device)[
                "binding_steps"
            ],
            # (N, L, K) maps are kept where masks can score them; otherwise for the pictures only
            "attention": ex["attention"] if spatial else ex["attention"][pictures_at],
            "attention_index": torch.arange(len(x)) if spatial else pictures_at,
        }
        xd = x[deletion_at]
        target = ex["logits"][deletion_at].argmax(1)
        weights = contributions[deletion_at, target].clamp_min(0)  # (n, K): concepts that speak for the class
        concept_order = torch.einsum("nlk,nk->nl", ex["attention"][deletion_at], weights).argsort(1, descending=True)
        patch_order = (
            ex["patch_logits"][deletion_at, :, :]
            .gather(2, target[:, None, None].expand(-1, ex["patch_logits"].shape[1], 1))[..., 0]
            .argsort(1, descending=True)
        )
        length = ex["attention"].shape[1]
        curves = partial(deletion_curves, model, xd, target, grid=grid, steps=params.deletion_steps, device=device)
        with torch.no_grad():
            record["deletion"] = {
                "concept_attention": curves(concept_order),
                "per_patch_logit": curves(patch_order),
                "random": torch.stack(
                    [curves(random_orders(len(xd), length, params.split_seed + r)) for r in range(params.random_orders)]
                ).mean(0),
            }
        out["runs"][run] = record
    return out


def _slot_assignment(
    record: dict[str, Any], test: ImageSet, match: torch.Tensor, iou: torch.Tensor | None
) -> np.ndarray:
    """slot_of[k]: identity when concept-supervised; else Hungarian matching on the match split."""
    if iou is not None:  # spatial ground truth: mean IoU of each slot's map with each concept's mask
        score = np.nanmean(iou[match].numpy(), axis=0)
    else:  # image-level ground truth: how much more mass a slot gets when the concept is present
        presence = torch.from_numpy(test.concept_presence[match.numpy()]).float()
        mass = record["mass"][match]
        inside = (mass.T @ presence) / presence.sum(0).clamp_min(1)
        outside = (mass.T @ (1 - presence)) / (1 - presence).sum(0).clamp_min(1)
        score = (inside - outside).numpy()
    return match_slots(score)


def evaluate_models(
    attributions: dict[str, Any],
    histories: dict[str, Any],
    shapes: dict[str, Any],
    data: dict[str, Any],
    compute: dict[str, Any],
    evaluate: dict[str, Any],
) -> tuple[dict[str, Any], plt.Figure, plt.Figure, plt.Figure, plt.Figure]:
    """Accuracy, localisation, faithfulness, contributions and convergence; four pictures."""
    with _compute(compute):
        return _evaluate_models(attributions, histories, shapes, data, EvaluateParams.model_validate(evaluate))


def _evaluate_models(
    attributions: dict[str, Any],
    histories: dict[str, Any],
    shapes: dict[str, Any],
    data: dict[str, Any],
    params: EvaluateParams,
) -> tuple[dict[str, Any], plt.Figure, plt.Figure, plt.Figure, plt.Figure]:
    loaded = load_concept_data(shapes, data)
    test = loaded.test
    labels = torch.from_numpy(test.labels)
    match, held_out = attributions["match_index"], attributions["eval_index"]
    masks = None if test.concept_masks is None else torch.from_numpy(test.concept_masks)
    names = list(test.concept_names)
    per: dict[str, dict[str, list[Any]]] = {}
    assignments: dict[str, np.ndarray] = {}
    for run, record in sorted(attributions["runs"].items()):
        variant = record["variant"]
        acc = per.setdefault(variant, {})
        acc.setdefault("accuracy", []).append(float((record["logits"].argmax(1) == labels).float().mean()))
        if variant == "linear":
            continue
        iou = pointing = None
        if masks is not None:
            iou = iou_matrix(record["attention"], masks, record["grid"], params.iou_threshold)
            pointing = pointing_matrix(record["attention"], masks, record["grid"])
        hungarian = _slot_assignment(record, test, match, iou)
        slot_of = np.arange(len(names)) if variant == "biice_expl" else hungarian
        assignments[run] = slot_of
        acc.setdefault("hungarian_agrees_with_identity", []).append(float((hungarian == np.arange(len(names))).mean()))
        if iou is not None:
            acc.setdefault("iou", []).append(nanmean_per_concept(diagonal_scores(iou[held_out], slot_of)))
            acc.setdefault("pointing", []).append(nanmean_per_concept(diagonal_scores(pointing[held_out], slot_of)))
        own = record["own_contributions"][held_out][:, slot_of].numpy()  # concepts in ground-truth order
        scores = class_concept_scores(own, test.labels[held_out.numpy()], test.num_classes)
        acc.setdefault("class_scores", []).append(scores)
        acc.setdefault("precision", []).append(float(np.nanmean(precision_at_k(scores, loaded.rules))))
        acc.setdefault("sum_error", []).append(record["contribution_sum_error"])
        curves = record["deletion"]
        for order, curve in curves.items():
            acc.setdefault(f"deletion_{order}", []).append(float(drop_auc(curve).mean()))
            acc.setdefault(f"curve_{order}", []).append(curve.mean(0).numpy())
        trace = record["trace"].mean(0).numpy()
        acc.setdefault("trace", []).append(trace)
        acc.setdefault("trained_steps", []).append(record["binding_steps"].mean(0).numpy())
        drift = np.asarray(histories[run]["slot_drift"])
        acc.setdefault("slot_drift", []).append(drift)
        acc.setdefault("bound_drift", []).append(np.asarray(histories[run]["bound_drift"]))

    metrics: dict[str, Any] = {"accuracy": {v: mean_std(r["accuracy"]) for v, r in per.items()}}
    concept_variants = [v for v in ("biice", "biice_expl") if v in per]
    if masks is not None and concept_variants:
        metrics["localisation"] = _localisation(
            per, concept_variants, names, masks, held_out, attributions["runs"], params
        )
    metrics["faithfulness"] = {
        v: {
            "concept_attention_drop_auc": mean_std(per[v]["deletion_concept_attention"]),
            "random_drop_auc": mean_std(per[v]["deletion_random"]),
            "per_patch_logit_drop_auc": mean_std(per[v]["deletion_per_patch_logit"]),
        }
        for v in concept_variants
    }
    metrics["contributions"] = {
        **{
            v: {
                "precision_at_k": mean_std(per[v]["precision"]),
                "sum_to_logit_max_abs_error": float(max(per[v]["sum_error"])),
            }
            for v in concept_variants
        },
        "chance_precision_at_k": chance_precision(loaded.rules, len(names)),
    }
    metrics["convergence"] = {
        v: {
            "binding_step_first": mean_std([t[0] for t in per[v]["trace"]]),
            "binding_step_last": mean_std([t[-1] for t in per[v]["trace"]]),
            "binding_step_ratio_last_to_first": mean_std([t[-1] / t[0] for t in per[v]["trace"]]),
            "slot_drift_first_epoch": mean_std([d[0] for d in per[v]["slot_drift"]]),
            "slot_drift_last_epoch": mean_std([d[-1] for d in per[v]["slot_drift"]]),
            "bound_drift_first_epoch": mean_std([d[0] for d in per[v]["bound_drift"]]),
            "bound_drift_last_epoch": mean_std([d[-1] for d in per[v]["bound_drift"]]),
        }
        for v in concept_variants
    }
    metrics["slot_matching"] = {
        "method": (
            "Hungarian matching of slots to concepts on the held-out match split of the test set (mean IoU "
            "of slot maps with concept masks, or, without masks, the slot's extra attention mass on images "
            "showing the concept); used for biice, while biice_expl keeps slot k = concept k by construction"
        ),
        **{
            v: {"hungarian_agrees_with_identity": mean_std(per[v]["hungarian_agrees_with_identity"])}
            for v in concept_variants
        },
    }
    # wall times stay in histories.json: metrics.json is identical from one rerun to the next
    seeds = len(per[next(iter(per))]["accuracy"])
    train_n = len(loaded.train)
    metrics["scale"] = (
        f"{loaded.source}: {train_n} train / {len(test)} test images, {len(names)} concepts, "
        f"{test.num_classes} classes; {seeds} seeds; localisation and contributions on the "
        f"{len(held_out)} test images not used to match slots"
    )
    figures = (
        pictures.concept_maps(test, attributions, assignments, names),
        pictures.contributions(per, concept_variants, names, test.class_names, loaded.rules),
        pictures.convergence(per, concept_variants, attributions),
        pictures.deletion(per, concept_variants),
    )
    return metrics, *figures


def _localisation(
    per: dict[str, Any],
    variants: list[str],
    names: list[str],
    masks: torch.Tensor,
    held_out: torch.Tensor,
    runs: dict[str, Any],
    params: EvaluateParams,
) -> dict[str, Any]:
    grid = next(r["grid"] for r in runs.values() if "grid" in r)
    section: dict[str, Any] = {}
    for v in variants:
        iou, pointing = np.stack(per[v]["iou"]), np.stack(per[v]["pointing"])  # (seeds, K)
        section[v] = {
            "iou": mean_std(np.nanmean(iou, axis=1).tolist()),
            "pointing_game": mean_std(np.nanmean(pointing, axis=1).tolist()),
            "per_concept": {
                name: {"iou": float(np.nanmean(iou[:, k])), "pointing_game": float(np.nanmean(pointing[:, k]))}
                for k, name in enumerate(names)
            },
        }
    held_masks = masks[held_out]
    draws_iou, draws_pointing = [], []
    for draw in range(params.random_maps):
        maps = random_maps(len(held_out), grid, len(names), seed=draw)
        identity = np.arange(len(names))
        draws_iou.append(
            float(
                np.nanmean(
                    nanmean_per_concept(
                        diagonal_scores(iou_matrix(maps, held_masks, grid, params.iou_threshold), identity)
                    )
                )
            )
        )
        draws_pointing.append(
            float(np.nanmean(nanmean_per_concept(diagonal_scores(pointing_matrix(maps, held_masks, grid), identity))))
        )
    section["random"] = {"iou": mean_std(draws_iou), "pointing_game": mean_std(draws_pointing)}
    return section
