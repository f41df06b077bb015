"""One run of the Bi-ICE study: train a head at one learning rate, then read out what it learned.

The study compares heads on the same patch backbone (``build_concept_classifier``): ``linear``,
``mlp`` (capacity-matched), ``biice`` and ``biice_expl`` (with concept supervision). A seed fixes
the whole chain: the validation split carved from the training split, the initialisation, the
batch order, and through the validation accuracy which learning rate of the grid is kept.
Functions here take plain inputs (so a stage can run them on worker processes,
``revis.workers.run_jobs``) and return tensors on the CPU.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from revis.concepts.biice import BiICEClassifier, build_concept_classifier, explain_batches
from revis.concepts.deletion import coverage_orders, deletion_curves, random_orders
from revis.concepts.losses import patch_coverage
from revis.concepts.rates import select_rate
from revis.concepts.training import ConceptTrainConfig, ConceptTrainer
from revis.datasets.imageset import ImageSet
from revis.training import predict_logits

LOGGER = logging.getLogger(__name__)

CONCEPT_HEADS = ("biice", "biice_expl")


def build_from_spec(spec: dict[str, Any], variant: str, seed: int | None = None) -> torch.nn.Module:
    """A model of ``spec`` (``{"backbone", "head", "shape"}``); with ``seed``: its initialisation for that seed."""
    if seed is not None:
        torch.manual_seed(seed)
    shape = spec["shape"]
    return build_concept_classifier(
        variant,
        spec["backbone"],
        shape["channels"],
        shape["classes"],
        shape["image_size"],
        shape["concepts"],
        **spec["head"],
    )


def run_spec(train: ImageSet, backbone: dict[str, Any], head: dict[str, Any]) -> dict[str, Any]:
    """What builds every run's model (``build_from_spec``): the backbone, the head, the data's shape."""
    return {
        "backbone": backbone,
        "head": head,
        "shape": {
            "channels": train.channels,
            "classes": train.num_classes,
            "image_size": train.image_size,
            "concepts": len(train.concept_names),
        },
    }


def train_candidates(
    train: ImageSet,
    spec: dict[str, Any],
    variant: str,
    rates: Sequence[float],
    seed: int,
    fit_index: np.ndarray,
    validation_index: np.ndarray,
    config: dict[str, Any],
    probe_epochs: int | None = None,
    device: str = "cpu",
) -> list[dict[str, Any]]:
    """Train ``variant`` at every rate of ``rates`` on the fit part of the training split (the same seed's
    initialisation and batch order, validation accuracy after every epoch, early stopping with
    ``config["patience"]``) and choose the rate on the validation part (``revis.concepts.rates.select_rate``:
    probes of ``probe_epochs``, the chosen run goes on to its end). One record per rate, in rate order: its
    history, its probe score and whether it was chosen; the chosen one also its validation accuracy and weights
    (the best epoch's). Only the training split is read."""
    x, y = train.tensors()
    masks = None if train.concept_masks is None else torch.from_numpy(train.concept_masks[fit_index])
    presence = None if train.concept_presence is None else torch.from_numpy(train.concept_presence[fit_index])
    fit, validation = torch.from_numpy(fit_index), torch.from_numpy(validation_index)
    weights = {
        "expl_weight": config["expl_weight"] if variant == "biice_expl" else 0.0,
        "sparsity_weight": config["sparsity_weight"] if variant in CONCEPT_HEADS else 0.0,
    }
    models, trainers = {}, {}
    for lr in sorted(set(rates)):
        models[lr] = build_from_spec(spec, variant, seed)
        trainers[lr] = ConceptTrainer(
            models[lr],
            x[fit],
            y[fit],
            ConceptTrainConfig(**{**config, "lr": lr, **weights}),
            seed,
            masks=masks,
            presence=presence,
            device=device,
            progress=False,
            desc=f"{variant} lr {lr:g} seed {seed}",
            validation=(x[validation], y[validation]),
        )
    start = time.process_time()
    choice = select_rate(trainers, probe_epochs)
    # logged, not stored: a DVC output must not change when the same run is repeated
    LOGGER.info("%s seed %d: %d rate(s) in %.1f CPU s", variant, seed, len(trainers), time.process_time() - start)
    records = []
    for lr, trainer in trainers.items():
        record: dict[str, Any] = {"variant": variant, "seed": seed, "lr": lr, "chosen": lr == choice.chosen}
        history = trainer.finish()
        record["history"] = {
            **history.to_dict(),
            "probe_validation_accuracy": choice.scores[lr],
            "probe_epochs_run": choice.probe_epochs_run[lr],
            "probe_epochs": probe_epochs,
        }
        if record["chosen"]:
            predicted = predict_logits(models[lr], x[validation], device=device).argmax(1)
            record["validation_accuracy"] = float((predicted == y[validation]).float().mean())
            record["state_dict"] = {k: v.detach().cpu() for k, v in models[lr].state_dict().items()}
        records.append(record)
    return records


def attribute_run(
    test: ImageSet,
    spec: dict[str, Any],
    run: dict[str, Any],
    held_out: torch.Tensor,
    picture_index: torch.Tensor,
    deletion_index: torch.Tensor,
    trace_images: int,
    trace_iterations: int,
    deletion_steps: int,
    random_orders_count: int,
    random_seed: int,
    device: str = "cpu",
    rules: list[list[int]] | None = None,
) -> dict[str, Any]:
    """On the test split: logits; for Bi-ICE heads also the concept maps, contributions to each image's own
    class, binding traces (trained and untrained head) and patch-deletion curves by three orders, plus a
    fourth where the images have concept masks and ``rules`` (class -> its concepts) are given: the patches
    of the predicted class's concepts first (``ground_truth``, the case whose answer is known)."""
    x, y = test.tensors()
    model = build_from_spec(spec, run["variant"])
    model.load_state_dict(run["state_dict"])
    model.eval().to(device)
    record: dict[str, Any] = {"variant": run["variant"], "seed": run["seed"], "lr": run["lr"]}
    if run["variant"] not in CONCEPT_HEADS:
        record["logits"] = predict_logits(model, x, device=device).cpu()
        return record
    if not isinstance(model, BiICEClassifier):
        raise TypeError(f"{run['variant']} is a concept head but its model is not a BiICEClassifier")
    spatial = test.concept_masks is not None
    ex = explain_batches(model, x, device=device)
    contributions = ex["contributions"]
    traced = x[held_out[:trace_images]]
    untrained = build_from_spec(spec, run["variant"], run["seed"]).eval()  # the same seed's initialization
    if not isinstance(untrained, BiICEClassifier):
        raise TypeError(f"{run['variant']} is a concept head but its model is not a BiICEClassifier")
    record.update(
        {
            "grid": model.grid,
            "logits": ex["logits"],
            # the slice that is analysed: contributions to each image's own class, (N, K)
            "own_contributions": contributions[torch.arange(len(x)), y],
            "contribution_sum_error": float((contributions.sum(-1) - ex["logits"]).abs().max()),
            "mass": ex["attention"].mean(1),  # (N, K) attention mass per concept
            "binding_steps": ex["binding_steps"],
            "trace": explain_batches(model, traced, iterations=trace_iterations, device=device)["binding_steps"],
            "trace_untrained": explain_batches(untrained, traced, iterations=trace_iterations, device=device)[
                "binding_steps"
            ],
            # (N, L, K) maps are kept where masks can score them; otherwise for the pictures only
            "attention": ex["attention"] if spatial else ex["attention"][picture_index],
            "attention_index": torch.arange(len(x)) if spatial else picture_index,
        }
    )
    xd = x[deletion_index]
    target = ex["logits"][deletion_index].argmax(1)
    weights = contributions[deletion_index, target].clamp_min(0)  # (n, K): concepts that speak for the class
    concept_order = torch.einsum("nlk,nk->nl", ex["attention"][deletion_index], weights).argsort(1, descending=True)
    patch_logits = ex["patch_logits"][deletion_index]
    patch_order = patch_logits.gather(2, target[:, None, None].expand(-1, patch_logits.shape[1], 1))[..., 0]
    patch_order = patch_order.argsort(1, descending=True)
    length = ex["attention"].shape[1]

    def curves(order: torch.Tensor) -> torch.Tensor:
        return deletion_curves(model, xd, target, order, grid=model.grid, steps=deletion_steps, device=device)

    with torch.no_grad():
        record["deletion"] = {
            "concept_attention": curves(concept_order),
            "per_patch_logit": curves(patch_order),
            "random": torch.stack(
                [curves(random_orders(len(xd), length, random_seed + r)) for r in range(random_orders_count)]
            ).mean(0),
        }
        if spatial and rules is not None:
            coverage = rule_coverage(test, deletion_index, target, rules, model.grid)
            record["deletion"]["ground_truth"] = curves(coverage_orders(coverage, random_seed + 500))
    return record


def rule_coverage(
    test: ImageSet, index: torch.Tensor, classes: torch.Tensor, rules: list[list[int]], grid: int
) -> torch.Tensor:
    """(n, L): the share of each patch of test images ``index`` covered by the masks of the concepts that define
    ``classes`` (one class per image), capped at 1 where the masks overlap."""
    assert test.concept_masks is not None
    masks = torch.from_numpy(test.concept_masks[index.numpy()])
    defining = torch.zeros(len(classes), masks.shape[1])
    for row, label in enumerate(classes.tolist()):
        defining[row, rules[label]] = 1.0
    return torch.einsum("nlk,nk->nl", patch_coverage(masks, grid), defining).clamp_max(1.0)


@dataclass(frozen=True)
class TrainJob:
    """One (variant, seed) of the study: every rate of its grid, the rate chosen on the seed's validation split."""

    spec: dict[str, Any]
    variant: str
    rates: tuple[float, ...]
    seed: int
    fit_index: np.ndarray
    validation_index: np.ndarray
    config: dict[str, Any]  # ConceptTrainConfig's fields but lr (and the two weights the variant sets)
    probe_epochs: int | None = None  # the choice's probe length (revis.concepts.rates); None: every rate to its end
    device: str = "cpu"


def train_cost(job: TrainJob) -> float:
    """Relative CPU of a job, for scheduling the largest first: a concept head's run costs ~2.5 linear/MLP runs
    (measured on shapes, one-rate default: 16-19 CPU s against 5-8 per run), times the rates of its grid."""
    return (2.5 if job.variant in CONCEPT_HEADS else 1.0) * len(job.rates)


def train_job(train: ImageSet, job: TrainJob) -> list[dict[str, Any]]:
    """``train_candidates`` of one job."""
    j = job
    return train_candidates(
        train, j.spec, j.variant, j.rates, j.seed, j.fit_index, j.validation_index, j.config, j.probe_epochs, j.device
    )


def keep_best_rates(spec: dict[str, Any], results: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The chosen run per (variant, seed) (``train_candidates``): the kept models (``spec`` and ``runs``), and
    every candidate's history (``_candidate_history``: with its rate, probe score and whether it was kept)."""
    kept = {f"{r['variant']}/seed{r['seed']}": r for r in results if r["chosen"]}
    missing = {f"{r['variant']}/seed{r['seed']}" for r in results} - set(kept)
    if missing:
        raise ValueError(f"no chosen rate for {sorted(missing)}")
    models = {
        **spec,
        "runs": {
            run: {k: r[k] for k in ("variant", "seed", "lr", "validation_accuracy", "state_dict")}
            for run, r in kept.items()
        },
    }
    histories = {f"{r['variant']}/seed{r['seed']}/lr{r['lr']:g}": _candidate_history(r) for r in results}
    return models, histories


def _candidate_history(result: dict[str, Any]) -> dict[str, Any]:
    """A candidate's history: its per-epoch curves, rate, whether it was kept and its validation accuracy (the
    kept weights'; for the others the best of the epochs they trained)."""
    history = dict(result["history"])
    curve = history.pop("validation_accuracy")
    return {
        **history,
        "validation_accuracy_per_epoch": curve,
        "lr": result["lr"],
        "validation_accuracy": result["validation_accuracy"] if result["chosen"] else max(curve, default=0.0),
        "kept": result["chosen"],
    }


def split_test_set(labels: np.ndarray, match_fraction: float, pictures: int, deletions: int, seed: int) -> dict:
    """Per seed: the test images that match slots to concepts, the held-out rest the metrics use, and the
    held-out images drawn (cycling through the classes) and deleted."""
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    cut = round(match_fraction * len(labels))
    match, held_out = order[:cut].sort().values, order[cut:].sort().values
    chosen: list[int] = []
    pools = {c: [int(i) for i in held_out if labels[i] == c] for c in np.unique(labels)}
    while len(chosen) < pictures and any(pools.values()):
        for pool in pools.values():
            if pool and len(chosen) < pictures:
                chosen.append(pool.pop(0))
    return {
        "match_index": match,
        "eval_index": held_out,
        "picture_index": torch.tensor(chosen, dtype=torch.int64),
        "deletion_index": held_out[:deletions],
    }


@dataclass(frozen=True)
class AttributeJob:
    """What one kept run computes on the test split (``attribute_run``): its seed's split, how much is traced
    and deleted, and the seed of the random deletion orders."""

    spec: dict[str, Any]
    run: dict[str, Any]
    split: dict[str, torch.Tensor]  # split_test_set of the run's seed
    trace_images: int
    trace_iterations: int
    deletion_steps: int
    random_orders: int
    device: str = "cpu"
    rules: list[list[int]] | None = None  # class -> its concepts: the ground-truth deletion order


def attribute_job(test: ImageSet, job: AttributeJob) -> dict[str, Any]:
    """``attribute_run`` of one job; the random deletion orders are seeded by 1000 x the run's seed."""
    j, split = job, job.split
    return attribute_run(
        test,
        j.spec,
        j.run,
        split["eval_index"],
        split["picture_index"],
        split["deletion_index"],
        j.trace_images,
        j.trace_iterations,
        j.deletion_steps,
        j.random_orders,
        1000 * j.run["seed"],
        j.device,
        j.rules,
    )
