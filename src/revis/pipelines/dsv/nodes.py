"""Nodes of the ``dsv`` pipeline (Deep Support Vectors): thin adapters over ``revis.kkt`` / ``revis.distill``."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy import stats
from torch import nn

from revis.augment import DiffAugment
from revis.datasets.imageset import ImageSet
from revis.datasets.named import named_splits
from revis.distill import distribution_matching, score_models, train_fresh_models
from revis.kkt import (
    DeepKKT,
    KKTWeights,
    noise_candidates,
    random_per_class,
    real_multipliers,
    synthesize,
    top_lambda_per_class,
)
from revis.models import build_model
from revis.pipelines.dsv.params import DM, Data, Distill, Retrain, Runtime, Select, Teacher
from revis.reporting.grids import class_mosaic
from revis.reporting.summary import mean_std
from revis.runtime import apply_runtime
from revis.training import TrainConfig, predict_logits, train_classifier

TRAIN_KEYS = ("epochs", "batch_size", "optimizer", "lr", "momentum", "weight_decay", "schedule", "augment")
VARIANTS = ("zero_shot", "few_shot", "zero_shot_primal", "few_shot_primal")


def _full(model, raw: dict[str, Any]) -> dict[str, Any]:
    """A params section with its schema's defaults filled in (nodes can be called with partial dicts)."""
    return model.model_validate(raw).model_dump()


def _splits(
    name: str, shapes: dict[str, Any], digits: dict[str, ImageSet], data: dict[str, Any]
) -> tuple[ImageSet, ImageSet]:
    return named_splits(name, {"shapes": shapes, "digits": digits}, data.get("cifar10_root"))


def _train_config(recipe: dict[str, Any]) -> TrainConfig:
    return TrainConfig(**{key: recipe[key] for key in TRAIN_KEYS})


def teacher_network(teacher: dict[str, Any], name: str) -> nn.Module:
    """θ* of dataset ``name`` from the teacher checkpoint (frozen, eval mode)."""
    if name not in teacher["runs"]:
        raise KeyError(
            f"the teacher checkpoint holds no network for {name!r} (has {sorted(teacher['runs'])}); "
            "add it to dsv.data.datasets"
        )
    run = teacher["runs"][name]
    net = build_model(teacher["model"], *run["shape"])
    net.load_state_dict(run["state_dict"])
    return net.eval().requires_grad_(False)


def _per_class_accuracy(logits: torch.Tensor, y: torch.Tensor, num_classes: int) -> list[float]:
    predictions = logits.argmax(1)
    return [float((predictions[y == c] == c).float().mean()) for c in range(num_classes)]


# --- features: the teacher θ* --------------------------------------------------------------------
def train_teacher(
    shapes: dict[str, Any],
    digits: dict[str, ImageSet],
    data: dict[str, Any],
    runtime: dict[str, Any],
    teacher: dict[str, Any],
) -> dict[str, Any]:
    """Train θ* on the full training split of every dataset; a self-describing checkpoint."""
    data, teacher = _full(Data, data), _full(Teacher, teacher)
    device = apply_runtime(**_full(Runtime, runtime))
    runs = {}
    for name in data["datasets"]:
        train, _ = _splits(name, shapes, digits, data)
        x, y = train.tensors()
        shape = [train.channels, train.num_classes, train.image_size]
        torch.manual_seed(teacher["seed"])
        net = build_model(teacher["model"], *shape)
        history = train_classifier(
            net, x, y, _train_config(teacher), teacher["seed"], device=device, desc=f"teacher {name}"
        )
        runs[name] = {"state_dict": net.cpu().state_dict(), "shape": shape, "history": history.to_dict()}
    return {"model": dict(teacher["model"]), "runs": runs}


# --- select: λ for the real samples, top-λ and random subsets --------------------------------------
def rank_training_set(
    teacher: dict[str, Any],
    shapes: dict[str, Any],
    digits: dict[str, ImageSet],
    data: dict[str, Any],
    runtime: dict[str, Any],
    select: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """λ of every training sample (images fixed), and the per-class top-λ / random subsets."""
    data, select = _full(Data, data), _full(Select, select)
    device = apply_runtime(**_full(Runtime, runtime))
    lambdas, subsets = {}, {}
    for name in data["datasets"]:
        train, _ = _splits(name, shapes, digits, data)
        x, y = train.tensors()
        result = real_multipliers(
            teacher_network(teacher, name),
            x,
            y,
            steps=select["steps"],
            lr=select["lr"],
            distance=select["distance"],
            chunk_size=select["chunk_size"],
            device=device,
            desc=f"lambda {name}",
        )
        lambdas[name] = {
            "lam": result.lam,
            "alive": result.alive,
            "labels": y,
            "scale": result.scale,
            "history": result.history,
        }
        subsets[name] = {
            "top_lambda": {str(k): top_lambda_per_class(result.lam, y, k).tolist() for k in select["sizes"]},
            "random": {
                str(k): {str(s): random_per_class(y, k, s).tolist() for s in select["random_seeds"]}
                for k in select["sizes"]
            },
        }
    return lambdas, subsets


# --- distill: DSV synthesis (0-shot, few-shot; full and primal-only) and DM at equal shots ----------
def choose_shots(
    shapes: dict[str, Any], digits: dict[str, ImageSet], data: dict[str, Any], distill: dict[str, Any]
) -> dict[str, Any]:
    """The real images per class a few-shot method may see (one seeded draw per ipc)."""
    data, distill = _full(Data, data), _full(Distill, distill)
    shots = {}
    for name in data["datasets"]:
        train, _ = _splits(name, shapes, digits, data)
        y = torch.from_numpy(train.labels)
        shots[name] = {str(ipc): random_per_class(y, ipc, distill["shots_seed"]).tolist() for ipc in distill["ipc"]}
    return shots


def synthesize_dsvs(
    teacher: dict[str, Any],
    shots: dict[str, Any],
    shapes: dict[str, Any],
    digits: dict[str, ImageSet],
    data: dict[str, Any],
    runtime: dict[str, Any],
    distill: dict[str, Any],
) -> dict[str, Any]:
    """DSVs per dataset, variant (zero_shot, few_shot, and their primal-only ablations) and ipc."""
    data, distill = _full(Data, data), _full(Distill, distill)
    device = apply_runtime(**_full(Runtime, runtime))
    augment = DiffAugment(distill["augment"]) if distill["augment"] else None
    variants = VARIANTS if distill["primal_only_ablation"] else VARIANTS[:2]
    out: dict[str, Any] = {}
    for name in data["datasets"]:
        train, _ = _splits(name, shapes, digits, data)
        x, y = train.tensors()
        net = teacher_network(teacher, name).to(device)
        out[name] = {}
        for ipc in distill["ipc"]:
            index = torch.tensor(shots[name][str(ipc)])
            for variant in variants:
                weights = dict(distill["weights"])
                if variant.endswith("_primal"):
                    weights["w_stat"] = 0.0
                kkt = DeepKKT(net, KKTWeights(**weights), distill["distance"], augment)
                if variant.startswith("zero_shot"):
                    labels = torch.arange(train.num_classes).repeat_interleave(ipc)
                    init = noise_candidates(labels, tuple(x.shape[1:]), distill["seed"])
                else:
                    labels, init = y[index], x[index]
                result = synthesize(
                    kkt,
                    init,
                    labels,
                    steps=distill["steps"],
                    lr_images=distill["lr_images"],
                    lr_lambda=distill["lr_lambda"],
                    seed=distill["seed"],
                    device=device,
                    desc=f"dsv {name} {variant} ipc {ipc}",
                )
                out[name][f"{variant}/{ipc}"] = {
                    "images": result.images,
                    "labels": result.labels,
                    "lam": result.lam,
                    "initial": result.initial,
                    "initial_labels": labels,
                    "alive": result.alive,
                    "history": result.history,
                }
    return out


def distill_dm_at_shots(
    shots: dict[str, Any],
    shapes: dict[str, Any],
    digits: dict[str, ImageSet],
    data: dict[str, Any],
    runtime: dict[str, Any],
    dm: dict[str, Any],
) -> dict[str, Any]:
    """Distribution Matching that sees only the same shots (initialised from them, as DM does)."""
    data, dm = _full(Data, data), _full(DM, dm)
    device = apply_runtime(**_full(Runtime, runtime))
    augment = DiffAugment(dm["augment"]) if dm["augment"] else None
    out: dict[str, Any] = {}
    for name in data["datasets"]:
        train, _ = _splits(name, shapes, digits, data)
        x, y = train.tensors()
        out[name] = {}
        for ipc, index in shots[name].items():
            index = torch.tensor(index)
            result = distribution_matching(
                x[index],
                y[index],
                x[index],
                y[index],
                num_classes=train.num_classes,
                model=dm["model"],
                iterations=dm["iterations"],
                lr=dm["lr"],
                momentum=dm["momentum"],
                batch_real=dm["batch_real"],
                augment=augment,
                seed=dm["seed"],
                device=device,
                desc=f"dm {name} ipc {ipc}",
            )
            out[name][f"dm/{ipc}"] = {"images": result.images, "labels": result.labels, "history": result.history}
    return out


# --- train: retrain fresh networks on every set -----------------------------------------------------
def _training_sets(
    name: str,
    x: torch.Tensor,
    y: torch.Tensor,
    subsets: dict[str, Any],
    dsvs: dict[str, Any],
    dm_sets: dict[str, Any],
    seeds: list[int],
):
    """(set name, images, labels, model seeds) for every set of one dataset."""
    for k, index in subsets[name]["top_lambda"].items():
        yield f"top_lambda/{k}", x[index], y[index], seeds
    for k, by_seed in subsets[name]["random"].items():  # a fresh random subset per seed
        for seed, index in by_seed.items():
            yield f"random/{k}", x[index], y[index], [int(seed)]
    for key, entry in {**dsvs[name], **dm_sets[name]}.items():
        yield key, entry["images"], entry["labels"], seeds


def retrain_on_sets(
    subsets: dict[str, Any],
    dsvs: dict[str, Any],
    dm_sets: dict[str, Any],
    shapes: dict[str, Any],
    digits: dict[str, ImageSet],
    data: dict[str, Any],
    runtime: dict[str, Any],
    retrain: dict[str, Any],
) -> dict[str, Any]:
    """Fresh networks trained on each selected / synthesised set, one per seed."""
    data, retrain = _full(Data, data), _full(Retrain, retrain)
    device = apply_runtime(**_full(Runtime, runtime))
    config = _train_config(retrain)
    out: dict[str, Any] = {"model": dict(retrain["model"]), "runs": {}}
    for name in data["datasets"]:
        train, _ = _splits(name, shapes, digits, data)
        x, y = train.tensors()
        shape = (train.channels, train.num_classes, train.image_size)
        runs: dict[str, list] = {}
        for key, xs, ys, seeds in _training_sets(name, x, y, subsets, dsvs, dm_sets, retrain["seeds"]):
            if len(xs) == 0:  # every candidate was pruned: nothing to train on
                runs.setdefault(key, [])
                continue
            models = train_fresh_models(
                xs, ys, shape, retrain["model"], config, seeds, device=device, desc=f"{name} {key}"
            )
            runs.setdefault(key, []).extend(
                {"seed": s, "size": len(xs), "state_dict": m.state_dict()} for s, m in zip(seeds, models)
            )
        out["runs"][name] = {"shape": list(shape), "sets": runs}
    return out


# --- evaluate ---------------------------------------------------------------------------------------
def _split_key(key: str) -> tuple[str, str]:
    kind, size = key.split("/")
    return kind, size


def evaluate_dsv(
    retrained: dict[str, Any],
    teacher: dict[str, Any],
    lambdas: dict[str, Any],
    dsvs: dict[str, Any],
    dm_sets: dict[str, Any],
    shapes: dict[str, Any],
    digits: dict[str, ImageSet],
    data: dict[str, Any],
) -> tuple[dict[str, Any], plt.Figure, plt.Figure, plt.Figure, plt.Figure]:
    """metrics.json and the pictures: DSV grids, entropy curves, λ per class, retraining accuracies."""
    metrics: dict[str, Any] = {}
    for name, run in retrained["runs"].items():
        train, test = _splits(name, shapes, digits, data)
        xt, yt = test.tensors()
        k = train.num_classes
        net = teacher_network(teacher, name)
        logits = predict_logits(net, xt)
        per_class_acc = _per_class_accuracy(logits, yt, k)
        lam, labels = lambdas[name]["lam"], lambdas[name]["labels"]
        per_class_lambda = [float(lam[labels == c].sum()) for c in range(k)]
        history = lambdas[name]["history"]
        accuracies: dict[str, dict[str, Any]] = {}
        for key, entries in run["sets"].items():
            kind, size = _split_key(key)
            models = []
            for entry in entries:
                model = build_model(retrained["model"], *run["shape"])
                model.load_state_dict(entry["state_dict"])
                models.append(model)
            values = score_models(models, xt, yt) if models else [1.0 / k]  # an empty set is a chance-level guess
            accuracies.setdefault(kind, {})[size] = {**mean_std(values), "images": entries[0]["size"] if entries else 0}
        entropy, synthesis = {}, {}
        for key, entry in dsvs[name].items():
            kind, size = _split_key(key)
            h = entry["history"]
            entropy.setdefault(kind, {})[size] = {"start": h["entropy"][0], "end": h["entropy"][-1]}
            synthesis.setdefault(kind, {})[size] = {
                "alive_fraction": float(entry["alive"].float().mean()),
                "stat_start": h["stat"][0],
                "stat_end": h["stat"][-1],
                "teacher_accuracy_start": h["accuracy"][0],
                "teacher_accuracy_end": h["accuracy"][-1],
            }
        pearson = stats.pearsonr(per_class_lambda, per_class_acc) if np.std(per_class_acc) > 0 else None
        spearman = stats.spearmanr(per_class_lambda, per_class_acc) if np.std(per_class_acc) > 0 else None
        sizes = sorted(accuracies.get("top_lambda", {}), key=int)
        metrics[name] = {
            "chance": 1.0 / k,
            "teacher": {
                "test_accuracy": float((logits.argmax(1) == yt).float().mean()),
                "per_class_accuracy": per_class_acc,
            },
            "lambda": {
                "stat_at_zero": history["stat_at_zero"][0],
                "stat_start": history["stat"][0],
                "stat_end": history["stat"][-1],
                "stat_ratio": history["stat"][-1] / history["stat_at_zero"][0],
                "alive_fraction": float(lambdas[name]["alive"].float().mean()),
                "per_class_sum": per_class_lambda,
            },
            "correlation": {
                "pearson": float(pearson.statistic) if pearson else None,
                "spearman": float(spearman.statistic) if spearman else None,
                "classes": k,
            },
            "retrain": {
                "top_lambda": accuracies.get("top_lambda", {}),
                "random": accuracies.get("random", {}),
                "top_minus_random": {
                    s: accuracies["top_lambda"][s]["mean"] - accuracies["random"][s]["mean"]
                    for s in sizes
                    if s in accuracies.get("random", {})
                },
            },
            "dsv": {kind: accuracies[kind] for kind in (*VARIANTS, "dm") if kind in accuracies},
            "entropy": entropy,
            "synthesis": synthesis,
        }
    m, t = retrained["model"], teacher["model"]
    first = next(iter(retrained["runs"].values()))["sets"]
    seeds = max(len(v) for key, v in first.items() if key.startswith("top_lambda/"))
    sizes = ", ".join(f"{n} {len(_splits(n, shapes, digits, data)[0])} train" for n in retrained["runs"])
    metrics["scale"] = (
        f"mini world CPU: {sizes}; teacher {t['name']} w{t['width']} d{t['depth']} {t['norm']}; "
        f"retrained {m['name']} w{m['width']}, {seeds} seeds per set"
    )
    return metrics, *_pictures(metrics, lambdas, dsvs, dm_sets, shapes, digits, data)


def _pictures(metrics, lambdas, dsvs, dm_sets, shapes, digits, data):
    return (
        _grid_figure(dsvs, dm_sets, shapes, digits, data),
        _entropy_figure(dsvs),
        _lambda_figure(metrics, lambdas, shapes, digits, data),
        _retrain_figure(metrics),
    )


def _grid_figure(dsvs, dm_sets, shapes, digits, data) -> plt.Figure:
    names = list(dsvs)
    ipc = max(int(key.split("/")[1]) for key in dsvs[names[0]])
    columns = [f"zero_shot/{ipc}", f"few_shot/{ipc}", f"few_shot_primal/{ipc}", f"dm/{ipc}"]
    fig, axes = plt.subplots(
        len(names), len(columns) + 1, figsize=(2.6 * (len(columns) + 1), 3.0 * len(names)), squeeze=False
    )
    per_class = min(ipc, 10)
    for row, name in zip(axes, names):
        train, _ = _splits(name, shapes, digits, data)
        k = train.num_classes
        first = dsvs[name].get(f"few_shot/{ipc}")
        if first is not None:
            row[0].imshow(
                class_mosaic(first["initial"], first["initial_labels"], k, per_class), interpolation="nearest"
            )
        row[0].set_title(f"{name}: real shots", fontsize=8)
        for ax, key in zip(row[1:], columns):
            entry = dsvs[name].get(key) or dm_sets[name].get(key)
            if entry is not None:
                ax.imshow(class_mosaic(entry["images"], entry["labels"], k, per_class), interpolation="nearest")
            ax.set_title(f"{name}: {key.replace('/', ', ipc ')}", fontsize=8)
        for ax in row:
            ax.axis("off")
    fig.suptitle("Deep Support Vectors per class (rows) vs the real shots and DM at equal shots", fontsize=10)
    fig.tight_layout()
    return fig


def _entropy_figure(dsvs) -> plt.Figure:
    fig, axes = plt.subplots(1, len(dsvs), figsize=(4.5 * len(dsvs), 3.2), squeeze=False)
    for ax, (name, entries) in zip(axes[0], dsvs.items()):
        for key, entry in sorted(entries.items()):
            ax.plot(entry["history"]["entropy"], label=key.replace("/", " ipc "), lw=1)
        ax.set(title=name, xlabel="step", ylabel="mean entropy (nats)")
        ax.legend(fontsize=6)
    fig.suptitle("Entropy of the DSV candidates during synthesis (paper: rises, ≈0.2 → ≈1.0)", fontsize=10)
    fig.tight_layout()
    return fig


def _lambda_figure(metrics, lambdas, shapes, digits, data) -> plt.Figure:
    names = list(lambdas)
    fig, axes = plt.subplots(2, len(names), figsize=(4.8 * len(names), 6.4), squeeze=False)
    for column, name in enumerate(names):
        m = metrics[name]
        ax = axes[0][column]
        ax.scatter(m["lambda"]["per_class_sum"], m["teacher"]["per_class_accuracy"], s=18)
        for c, (a, b) in enumerate(zip(m["lambda"]["per_class_sum"], m["teacher"]["per_class_accuracy"])):
            ax.annotate(str(c), (a, b), fontsize=7)
        r = m["correlation"]["spearman"]
        ax.set(
            title=f"{name}: Σλ per class vs teacher accuracy (Spearman {r if r is None else round(r, 3)})",
            xlabel="Σλ of the class",
            ylabel="test accuracy of the class",
        )
        ax.title.set_fontsize(8)
        train, _ = _splits(name, shapes, digits, data)
        x, _ = train.tensors()
        lam, labels = lambdas[name]["lam"], lambdas[name]["labels"]
        top = top_lambda_per_class(lam, labels, 8)
        axes[1][column].imshow(class_mosaic(x[top], labels[top], train.num_classes, 8), interpolation="nearest")
        axes[1][column].set_title(f"{name}: real images with the largest λ per class", fontsize=8)
        axes[1][column].axis("off")
    fig.tight_layout()
    return fig


def _retrain_figure(metrics) -> plt.Figure:
    names = [n for n in metrics if n != "scale"]
    fig, axes = plt.subplots(1, len(names), figsize=(4.8 * len(names), 3.4), squeeze=False)
    for ax, name in zip(axes[0], names):
        retrain = metrics[name]["retrain"]
        sizes = sorted(retrain["top_lambda"], key=int)
        at = np.arange(len(sizes))
        for offset, kind in ((-0.2, "top_lambda"), (0.2, "random")):
            ax.bar(
                at + offset,
                [retrain[kind][s]["mean"] for s in sizes],
                0.4,
                yerr=[retrain[kind][s]["std"] or 0.0 for s in sizes],
                label=kind,
                capsize=3,
            )
        ax.axhline(metrics[name]["chance"], color="grey", ls=":", lw=1, label="chance")
        ax.set(xticks=at, xticklabels=[f"{s}/class" for s in sizes], ylabel="test accuracy", title=name)
        ax.legend(fontsize=7)
    fig.suptitle("Retraining on real subsets: largest λ vs random (mean ± std over seeds)", fontsize=10)
    fig.tight_layout()
    return fig
