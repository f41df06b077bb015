"""Nodes of the ``dkkt`` pipeline: distillation from partial data, DM vs DM + Deep-KKT vs DSV."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from revis.augment import DiffAugment
from revis.datasets.imageset import ImageSet
from revis.datasets.named import named_splits
from revis.distill import distribution_matching, score_models, train_fresh_models
from revis.kkt import DeepKKT, KKTState, KKTWeights, random_per_class, synthesize
from revis.models import build_model
from revis.pipelines.dkkt.params import Distill, Partial
from revis.pipelines.dsv.params import Data, Retrain, Runtime
from revis.reporting.grids import class_mosaic
from revis.reporting.summary import mean_std
from revis.runtime import apply_runtime
from revis.training import TrainConfig

TRAIN_KEYS = ("epochs", "batch_size", "optimizer", "lr", "momentum", "weight_decay", "schedule", "augment")
METHODS = ("random", "dm", "dm_dkkt", "dsv", "dm_union_dsv")


def fraction_key(fraction: float) -> str:
    """0.05 -> '5pct' (no '.' in keys: metric paths are dotted)."""
    return f"{fraction * 100:g}".replace(".", "_") + "pct"


def _full(model, raw: dict[str, Any]) -> dict[str, Any]:
    """A params section with its schema's defaults filled in."""
    return model.model_validate(raw).model_dump()


def fraction_value(key: str) -> float:
    """'5pct' -> 0.05."""
    return float(key[: -len("pct")].replace("_", ".")) / 100


def _ordered(keys) -> list[str]:
    """'<fraction>/<ipc>' or '<fraction>' keys by ascending fraction, then ipc (JSON files sort keys as text)."""

    def order(key: str) -> tuple[float, int]:
        fraction, _, ipc = key.partition("/")
        return fraction_value(fraction), int(ipc or 0)

    return sorted(keys, key=order)


def _splits(
    name: str, shapes: dict[str, Any], digits: dict[str, ImageSet], data: dict[str, Any]
) -> tuple[ImageSet, ImageSet]:
    return named_splits(name, {"shapes": shapes, "digits": digits}, data.get("cifar10_root"))


def _teacher(teacher: dict[str, Any], name: str) -> nn.Module:
    if name not in teacher["runs"]:
        raise KeyError(
            f"the dsv teacher holds no network for {name!r} (has {sorted(teacher['runs'])}); "
            "dkkt.datasets must be a subset of dsv.data.datasets"
        )
    run = teacher["runs"][name]
    net = build_model(teacher["model"], *run["shape"])
    net.load_state_dict(run["state_dict"])
    return net.eval().requires_grad_(False)


def partial_indices(y: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """A stratified random ``fraction`` of the training split, at least one image per class."""
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for c in torch.unique(y):
        members = (y == c).nonzero().squeeze(1)
        take = max(1, round(fraction * len(members)))
        chosen.append(members[torch.randperm(len(members), generator=generator)[:take]])
    return torch.cat(chosen)


def sample_partial(
    shapes: dict[str, Any],
    digits: dict[str, ImageSet],
    data: dict[str, Any],
    datasets: list[str],
    partial: dict[str, Any],
) -> dict[str, Any]:
    """The visible subset per dataset and fraction (indices into the training split)."""
    data, partial = _full(Data, data), _full(Partial, partial)
    out = {}
    for name in datasets:
        train, _ = _splits(name, shapes, digits, data)
        y = torch.from_numpy(train.labels)
        out[name] = {
            fraction_key(f): partial_indices(y, f, partial["seed"]).tolist() for f in sorted(partial["fractions"])
        }
    return out


def _dm(real_x, real_y, init, labels, k, dm, augment, seed, device, extra=None, weight=0.0, desc="dm"):
    return distribution_matching(
        real_x,
        real_y,
        init,
        labels,
        num_classes=k,
        model=dm["model"],
        iterations=dm["iterations"],
        lr=dm["lr"],
        momentum=dm["momentum"],
        batch_real=dm["batch_real"],
        augment=augment,
        seed=seed,
        extra=extra,
        extra_weight=weight,
        device=device,
        desc=desc,
    )


def distill_partial(
    teacher: dict[str, Any],
    partial: dict[str, Any],
    shapes: dict[str, Any],
    digits: dict[str, ImageSet],
    data: dict[str, Any],
    datasets: list[str],
    runtime: dict[str, Any],
    distill: dict[str, Any],
) -> dict[str, Any]:
    """Per dataset, fraction and ipc: random real subset, DM, DM + DKKT, DSV and DM ∪ DSV (plus the λ_dkkt sweep)."""
    data, distill = _full(Data, data), _full(Distill, distill)
    device = apply_runtime(**_full(Runtime, runtime))
    dm, dkkt = distill["dm"], distill["dkkt"]
    dm_augment = DiffAugment(dm["augment"]) if dm["augment"] else None
    kkt_augment = DiffAugment(dkkt["augment"]) if dkkt["augment"] else None
    out: dict[str, Any] = {}
    for name in datasets:
        train, _ = _splits(name, shapes, digits, data)
        x, y = train.tensors()
        k = train.num_classes
        kkt = DeepKKT(_teacher(teacher, name).to(device), KKTWeights(**dkkt["weights"]), dkkt["distance"], kkt_augment)
        sets: dict[str, Any] = {}
        smallest = None
        for fraction in _ordered(partial[name]):
            visible = torch.tensor(partial[name][fraction])
            px, py = x[visible], y[visible]
            per_class = int(torch.bincount(py, minlength=k).min())
            for ipc in sorted(distill["ipc"]):
                if ipc > per_class:  # the visible data hold fewer images per class than the set needs
                    continue
                key = f"{fraction}/{ipc}"
                smallest = smallest or key
                start = random_per_class(py, ipc, distill["seed"])
                init, labels = px[start], py[start]
                entry: dict[str, Any] = {"visible": len(visible), "random": {"images": init, "labels": labels}}
                result = _dm(px, py, init, labels, k, dm, dm_augment, distill["seed"], device, desc=f"dm {name} {key}")
                entry["dm"] = {"images": result.images, "labels": result.labels, "history": result.history}
                state = KKTState(kkt, init.to(device), labels.to(device), dkkt["lr_lambda"])
                result = _dm(
                    px,
                    py,
                    init,
                    labels,
                    k,
                    dm,
                    dm_augment,
                    distill["seed"],
                    device,
                    extra=state,
                    weight=dkkt["weight"],
                    desc=f"dm+dkkt {name} {key}",
                )
                entry["dm_dkkt"] = {
                    "images": result.images,
                    "labels": result.labels,
                    "history": result.history,
                    "lam": state.lam.effective().detach().cpu(),
                    "alive": state.alive.cpu(),
                }
                dsv = synthesize(
                    kkt,
                    init,
                    labels,
                    steps=distill["dsv"]["steps"],
                    lr_images=distill["dsv"]["lr_images"],
                    lr_lambda=dkkt["lr_lambda"],
                    seed=distill["seed"],
                    device=device,
                    desc=f"dsv {name} {key}",
                )
                entry["dsv"] = {"images": dsv.images, "labels": dsv.labels, "history": dsv.history}
                entry["dm_union_dsv"] = {
                    "images": torch.cat([entry["dm"]["images"], dsv.images]),
                    "labels": torch.cat([entry["dm"]["labels"], dsv.labels]),
                }
                sets[key] = entry
        sweep = {}
        if smallest is not None:
            fraction, ipc = smallest.split("/")
            visible = torch.tensor(partial[name][fraction])
            px, py = x[visible], y[visible]
            start = random_per_class(py, int(ipc), distill["seed"])
            for weight in dkkt["sweep"]:
                state = KKTState(kkt, px[start].to(device), py[start].to(device), dkkt["lr_lambda"])
                result = _dm(
                    px,
                    py,
                    px[start],
                    py[start],
                    k,
                    dm,
                    dm_augment,
                    distill["seed"],
                    device,
                    extra=state,
                    weight=weight,
                    desc=f"sweep {name} {weight:g}",
                )
                sweep[f"{weight:g}".replace(".", "_")] = {
                    "images": result.images,
                    "labels": result.labels,
                    "weight": weight,
                }
        out[name] = {"sets": sets, "sweep": sweep, "sweep_at": smallest}
    return out


def train_on_distilled(
    distilled: dict[str, Any],
    shapes: dict[str, Any],
    digits: dict[str, ImageSet],
    data: dict[str, Any],
    runtime: dict[str, Any],
    train: dict[str, Any],
) -> dict[str, Any]:
    """N fresh networks per distilled / selected set (the shared evaluation protocol)."""
    data, train = _full(Data, data), _full(Retrain, train)
    device = apply_runtime(**_full(Runtime, runtime))
    config = TrainConfig(**{key: train[key] for key in TRAIN_KEYS})
    out: dict[str, Any] = {"model": dict(train["model"]), "runs": {}}
    for name, result in distilled.items():
        tr, _ = _splits(name, shapes, digits, data)
        shape = (tr.channels, tr.num_classes, tr.image_size)
        jobs = {f"{method}/{key}": entry[method] for key, entry in result["sets"].items() for method in METHODS}
        jobs.update({f"sweep/{weight}": entry for weight, entry in result["sweep"].items()})
        runs = {}
        for job, entry in jobs.items():
            models = train_fresh_models(
                entry["images"],
                entry["labels"],
                shape,
                train["model"],
                config,
                train["seeds"],
                device=device,
                desc=f"{name} {job}",
            )
            runs[job] = [
                {"seed": s, "size": len(entry["images"]), "state_dict": m.state_dict()}
                for s, m in zip(train["seeds"], models)
            ]
        out["runs"][name] = {"shape": list(shape), "sets": runs}
    return out


def evaluate_dkkt(
    trained: dict[str, Any],
    distilled: dict[str, Any],
    shapes: dict[str, Any],
    digits: dict[str, ImageSet],
    data: dict[str, Any],
) -> tuple[dict[str, Any], plt.Figure, plt.Figure]:
    """metrics.json (accuracy per method, fraction and ipc; DKKT and union gains) and pictures."""
    metrics: dict[str, Any] = {}
    for name, run in trained["runs"].items():
        train, test = _splits(name, shapes, digits, data)
        xt, yt = test.tensors()
        table: dict[str, Any] = {}
        for job, entries in run["sets"].items():
            models = []
            for entry in entries:
                model = build_model(trained["model"], *run["shape"])
                model.load_state_dict(entry["state_dict"])
                models.append(model)
            table[job] = {**mean_std(score_models(models, xt, yt)), "images": entries[0]["size"]}
        methods: dict[str, Any] = {m: {} for m in METHODS}
        gains, union, visible = {}, {}, {}
        for key in _ordered(distilled[name]["sets"]):
            entry = distilled[name]["sets"][key]
            fraction, ipc = key.split("/")
            for method in METHODS:
                methods[method].setdefault(fraction, {})[ipc] = table[f"{method}/{key}"]
            acc = {method: table[f"{method}/{key}"]["mean"] for method in METHODS}
            gains.setdefault(fraction, {})[ipc] = acc["dm_dkkt"] - acc["dm"]
            union.setdefault(fraction, {})[ipc] = acc["dm_union_dsv"] - max(acc["dm"], acc["dsv"])
            visible[fraction] = entry["visible"]
        fractions = list(dict.fromkeys(k.split("/")[0] for k in _ordered(distilled[name]["sets"])))
        smallest_ipc = min((int(i) for g in gains.values() for i in g), default=None)
        at_ipc = {f: gains[f][str(smallest_ipc)] for f in fractions if str(smallest_ipc) in gains.get(f, {})}
        sweep_at = distilled[name]["sweep_at"]
        metrics[name] = {
            "chance": 1.0 / train.num_classes,
            "visible_images": visible,
            "methods": methods,
            "dkkt_minus_dm": gains,
            "union_minus_best_single": union,
            "gap_at_smallest_fraction": at_ipc.get(fractions[0]) if fractions else None,
            "largest_gap_at_other_fractions": max([at_ipc[f] for f in fractions[1:] if f in at_ipc], default=None),
            "sweep": {"at": sweep_at, **{w: table[f"sweep/{w}"] for w in distilled[name]["sweep"]}},
        }
    m = trained["model"]
    first = next(iter(trained["runs"].values()))["sets"]
    seeds = len(next(iter(first.values())))
    sizes = ", ".join(f"{n} {len(_splits(n, shapes, digits, data)[0])} train" for n in trained["runs"])
    metrics["scale"] = (
        f"mini world CPU: {sizes}; {m['name']} w{m['width']} d{m['depth']}; {seeds} evaluation models per set"
    )
    return metrics, _grid_figure(distilled, shapes, digits, data), _accuracy_figure(metrics)


def _grid_figure(distilled, shapes, digits, data) -> plt.Figure:
    names = list(distilled)
    fig, axes = plt.subplots(
        len(names), len(METHODS) - 1, figsize=(2.8 * (len(METHODS) - 1), 3.2 * len(names)), squeeze=False
    )
    for row, name in zip(axes, names):
        sets = distilled[name]["sets"]
        train, _ = _splits(name, shapes, digits, data)
        if not sets:
            continue
        key = max(_ordered(sets), key=lambda k: int(k.split("/")[1]))  # the largest ipc at the smallest fraction
        per_class = int(key.split("/")[1])
        for ax, method in zip(row, METHODS[:-1]):
            entry = sets[key][method]
            ax.imshow(
                class_mosaic(entry["images"], entry["labels"], train.num_classes, per_class), interpolation="nearest"
            )
            ax.set_title(f"{name} {key.replace('/', ', ipc ')}: {method}", fontsize=8)
            ax.axis("off")
    fig.suptitle("Distilled images per class (rows) from partial data", fontsize=10)
    fig.tight_layout()
    return fig


def _accuracy_figure(metrics) -> plt.Figure:
    names = [n for n in metrics if n != "scale"]
    fig, axes = plt.subplots(1, len(names), figsize=(6.5 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names):
        methods = metrics[name]["methods"]
        keys = [
            tuple(k.split("/")) for k in _ordered(f"{f}/{i}" for f, by_ipc in methods["dm"].items() for i in by_ipc)
        ]
        at = np.arange(len(keys))
        width = 0.8 / len(METHODS)
        for j, method in enumerate(METHODS):
            ax.bar(
                at + (j - len(METHODS) / 2 + 0.5) * width,
                [methods[method][f][i]["mean"] for f, i in keys],
                width,
                yerr=[methods[method][f][i]["std"] or 0.0 for f, i in keys],
                label=method,
                capsize=2,
            )
        ax.axhline(metrics[name]["chance"], color="grey", ls=":", lw=1)
        ax.set(xticks=at, xticklabels=[f"{f}\n{i} ipc" for f, i in keys], ylabel="test accuracy", title=name)
        ax.legend(fontsize=6, ncol=3)
    fig.suptitle("Distillation from partial data: test accuracy (mean ± std over evaluation models)", fontsize=10)
    fig.tight_layout()
    return fig
