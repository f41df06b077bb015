"""``dsv-evaluate``: test accuracy of every set over chain seeds, the KKT diagnostics, pictures."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import torch

from revis.datasets.imageset import ImageSet
from revis.distill.config import EvalProtocol, RuntimeParams
from revis.distill.data import DataParams, load_splits
from revis.distill.evaluation import load_network, pearson, score, spearman, summarise
from revis.distill.pictures import Panel, accuracy_bars_figure, curves_figure, mosaic_figure
from revis.kkt.pictures import lambda_figure
from revis.kkt.real import top_lambda_per_class
from revis.kkt.teacher import teacher_network
from revis.reporting.summary import mean_std
from revis.runtime import apply_runtime
from revis.training import predict_logits


def chance_accuracy(labels: torch.Tensor, num_classes: int) -> float:
    """Test accuracy of the best constant guess: the frequency of the most common test class."""
    return float(torch.bincount(labels, minlength=num_classes).max() / len(labels))


def _nest(flat: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``"<kind>/<size>" -> value`` into ``kind -> size -> value``."""
    nested: dict[str, dict[str, Any]] = {}
    for key, value in flat.items():
        kind, size = key.split("/")
        nested.setdefault(kind, {})[size] = value
    return dict(sorted(nested.items()))


def _per_seed(values: dict[int, float]) -> dict[str, Any]:
    seeds = sorted(values)
    return mean_std([values[s] for s in seeds], seeds)


def evaluate_dsv(
    networks: dict[str, Any],
    teachers: dict[str, Any],
    lambdas: dict[str, Any],
    dsvs: dict[str, Any],
    shapes: dict[str, Any],
    digits: dict[str, ImageSet],
    data: DataParams,
    runtime: RuntimeParams,
) -> tuple[dict[str, Any], plt.Figure, plt.Figure, plt.Figure, plt.Figure]:
    """metrics.json and the pictures: DSV grids, entropy / stationarity curves, λ per class, accuracies."""
    apply_runtime(runtime.device, runtime.threads)
    protocol = EvalProtocol.model_validate(networks["protocol"])
    metrics: dict[str, Any] = {}
    lambda_panels, grid_rows, curve_panels, bars, chance = {}, [], {}, {}, {}
    for name, choice in data.datasets.items():
        splits = load_splits(name, shapes, digits, data)
        k = splits.num_classes
        chance[name] = chance_accuracy(splits.y_test, k)
        accuracies: dict[str, float] = {}
        for seed in choice.seeds:  # every set of the chain; an empty set (all pruned) scores the constant guess
            for key in [*lambdas_keys(networks, name, seed), *(f"{v}/{seed}" for v in dsvs[f"{name}/{seed}"])]:
                entry = networks["networks"].get(f"{name}/{key}")
                accuracies[key] = (
                    score(load_network(entry, protocol), splits.x_test, splits.y_test) if entry else chance[name]
                )
        sets = _nest(summarise(accuracies))
        teacher, lam, corr_s, corr_p = {}, {}, {}, {}
        synthesis: dict[str, dict[int, dict[str, float]]] = {}
        for seed in choice.seeds:
            chain = f"{name}/{seed}"
            run = teachers["runs"][chain]
            net = teacher_network(teachers, name, seed)
            logits = predict_logits(net, splits.x_test)
            class_acc = [float((logits.argmax(1)[splits.y_test == c] == c).float().mean()) for c in range(k)]
            fit = lambdas[chain]
            lam_sum = [float(fit["lam"][fit["labels"] == c].sum()) for c in range(k)]
            teacher[seed] = {
                "test_accuracy": float((logits.argmax(1) == splits.y_test).float().mean()),
                "stationarity_ratio": run["stationarity"]["ratio_identifiable"],
                "stationarity_ratio_sgd": run["stationarity_sgd"]["ratio_identifiable"],
                "stationarity_ratio_all": run["stationarity"]["ratio_all"],
                "cosine": run["stationarity"]["cosine_identifiable"],
            }
            lam_values = fit["lam"][fit["alive"]]
            lam[seed] = {
                "stat_start": fit["history"]["stat"][0],
                "stat_end": fit["history"]["stat"][-1],
                "alive_fraction": float(fit["alive"].float().mean()),
                "relative_spread": float(lam_values.std() / lam_values.mean()) if len(lam_values) > 1 else 0.0,
            }
            rho, r = spearman(lam_sum, class_acc), pearson(lam_sum, class_acc)
            if rho is not None and r is not None:  # a constant side (every class perfect) has no correlation
                corr_s[seed], corr_p[seed] = rho, r
            for key, entry in dsvs[chain].items():
                h = entry["history"]
                moved = (
                    (entry["images"] - entry["initial"][entry["alive"]]).abs().mean() if len(entry["images"]) else 0.0
                )
                synthesis.setdefault(key, {})[seed] = {
                    "entropy_start": h["entropy"][0],
                    "entropy_end": h["entropy"][-1],
                    "stat_start": h["stat"][0],
                    "stat_end": h["stat"][-1],
                    "alive_fraction": float(entry["alive"].float().mean()),
                    "teacher_accuracy_end": h["accuracy"][-1],
                    "pixel_change": float(moved),
                }
            if seed == choice.seeds[0]:
                top = top_lambda_per_class(fit["lam"], fit["labels"], 8)
                lambda_panels[name] = {
                    "lambda_sum": lam_sum,
                    "class_accuracy": class_acc,
                    "rho": corr_s.get(seed),
                    "top_images": splits.to_pixels(splits.x_train[top]),
                    "top_labels": splits.y_train[top],
                    "num_classes": k,
                    "per_class": 8,
                }
        first = dsvs[f"{name}/{choice.seeds[0]}"]
        ipc = max(int(key.split("/")[1]) for key in first)
        row = []
        for key in (f"few_shot/{ipc}", f"zero_shot/{ipc}", f"few_shot_primal/{ipc}", f"zero_shot_primal/{ipc}"):
            if key in first:
                if key.startswith("few_shot/"):
                    row.append(
                        Panel(
                            f"{name}: real shots",
                            splits.to_pixels(first[key]["initial"]),
                            first[key]["initial_labels"],
                            k,
                            min(ipc, 10),
                        )
                    )
                row.append(
                    Panel(
                        f"{name}: {key.replace('/', ', ipc ')}",
                        splits.to_pixels(first[key]["images"]),
                        first[key]["labels"],
                        k,
                        min(ipc, 10),
                    )
                )
        grid_rows.append(row)
        for kind in ("entropy", "stat"):
            curve_panels[f"{name}: {'entropy (nats)' if kind == 'entropy' else 'stationarity ratio'}"] = {
                key: entry["history"][kind] for key, entry in sorted(first.items())
            }
        bars[name] = {
            size: {kind: sets[kind][size] for kind in sets if size in sets[kind]}
            for size in sorted({s for by in sets.values() for s in by}, key=int)
        }
        ablation = {}
        for key in synthesis:
            if key.split("/")[0].endswith("_primal"):
                full_key = key.replace("_primal", "")
                gaps = {}
                for seed in choice.seeds:  # same start: compare the candidates both runs kept
                    a, b = dsvs[f"{name}/{seed}"][full_key], dsvs[f"{name}/{seed}"][key]
                    full_all, primal_all = a["initial"].clone(), b["initial"].clone()
                    full_all[a["alive"]], primal_all[b["alive"]] = a["images"], b["images"]
                    mask = a["alive"] & b["alive"]
                    gaps[seed] = float((full_all[mask] - primal_all[mask]).abs().mean()) if mask.any() else 0.0
                kind, size = full_key.split("/")
                ablation.setdefault(kind, {})[size] = {"image_gap": _per_seed(gaps)}
        metrics[name] = {
            "chance": chance[name],
            "teacher": {
                key: _per_seed({s: v[key] for s, v in teacher.items()}) for key in next(iter(teacher.values()))
            },
            "lambda": {key: _per_seed({s: v[key] for s, v in lam.items()}) for key in next(iter(lam.values()))},
            "correlation": {
                "spearman": _per_seed(corr_s) if corr_s else None,
                "pearson": _per_seed(corr_p) if corr_p else None,
            },
            "retrain": {kind: sets[kind] for kind in ("top_lambda", "random") if kind in sets},
            "dsv": {kind: by for kind, by in sets.items() if kind not in ("top_lambda", "random")},
            "synthesis": _nest(
                {
                    key: {m: _per_seed({s: v[m] for s, v in by_seed.items()}) for m in next(iter(by_seed.values()))}
                    for key, by_seed in synthesis.items()
                }
            ),
            "ablation": ablation,
            "guard": synthesis_guards({seed: dsvs[f"{name}/{seed}"] for seed in choice.seeds}),
        }
    m = networks["protocol"]["model"]
    t = teachers["model"]
    seeds = ", ".join(f"{n} {len(c.seeds)}" for n, c in data.datasets.items())
    sizes = ", ".join(
        f"{n} {len(load_splits(n, shapes, digits, data).y_train)} train"
        + (f" at {c.image_size} px" if c.image_size else "")
        for n, c in data.datasets.items()
    )
    metrics["scale"] = (
        f"mini world CPU: {sizes}; teacher {t['name']} w{t['width']} d{t['depth']} {t['norm']}; evaluation "
        f"{m['name']} w{m['width']}, {networks['protocol']['epochs']} epochs; whole-chain seeds: {seeds}"
    )
    figures = (
        mosaic_figure(
            grid_rows,
            "Deep Support Vectors per class (rows), first seed: the real shots, few-shot and 0-shot DSVs, primal-only",
        ),
        curves_figure(
            curve_panels,
            "DSV synthesis, first seed: entropy (paper: rises, ≈0.2 → ≈1.0) and stationarity ratio",
            "step",
            "value",
        ),
        lambda_figure(lambda_panels),
        accuracy_bars_figure(
            bars, chance, "Retraining on each set (mean ± sd over whole-chain seeds), per images per class"
        ),
    )
    return metrics, *figures


def synthesis_guards(by_seed: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Syntheses rerun at a lower step size, and those whose loss still rose (named: never scored silently)."""
    guards = {f"{key}/seed{seed}": entry["guard"] for seed, runs in by_seed.items() for key, entry in runs.items()}
    diverged = [run for run, guard in guards.items() if guard["diverged"]]
    return {
        "runs": len(guards),
        "restarted": sum(guard["restarts"] > 0 for guard in guards.values()),
        "diverged": len(diverged),
        "diverged_runs": ", ".join(diverged),
    }


def lambdas_keys(networks: dict[str, Any], name: str, seed: int) -> list[str]:
    """The real-subset keys ``<kind>/<k>/<seed>`` trained for one chain."""
    prefix = f"{name}/"
    keys = []
    for key in networks["networks"]:
        if key.startswith(prefix) and key.endswith(f"/{seed}"):
            kind = key[len(prefix) :].split("/")[0]
            if kind in ("top_lambda", "random"):
                keys.append(key[len(prefix) :])
    return keys
