"""``dkkt-evaluate``: accuracy per method, fraction and ipc over chain seeds; DM's loss curves; pictures."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import torch

from revis.datasets.imageset import ImageSet
from revis.distill.config import EvalProtocol, RuntimeParams
from revis.distill.data import DataParams, load_splits
from revis.distill.evaluation import load_network, score, summarise
from revis.distill.partial import METHODS, ordered
from revis.distill.pictures import Panel, accuracy_bars_figure, curves_figure, mosaic_figure
from revis.pipelines.dkkt.params import PartialDatasets
from revis.reporting.summary import mean_std
from revis.runtime import apply_runtime


def _chance(labels: torch.Tensor, num_classes: int) -> float:
    """Test accuracy of the best constant guess: the frequency of the most common test class."""
    return float(torch.bincount(labels, minlength=num_classes).max() / len(labels))


def _summary(by_seed: dict[int, float]) -> dict[str, Any]:
    seeds = sorted(by_seed)
    return mean_std([by_seed[s] for s in seeds], seeds)


def weight_choices(distilled: dict[str, Any], name: str, seeds: list[int]) -> dict[str, Any]:
    """Per fraction and ipc: λ_dkkt chosen on each seed's validation split, and each weight's validation accuracy."""
    out: dict[str, Any] = {}
    for key in ordered(distilled[f"{name}/{seeds[0]}"]["histories"]):
        choices = {s: distilled[f"{name}/{s}"]["histories"][key]["dm_dkkt"]["choice"] for s in seeds}
        grid = choices[seeds[0]]["grid"]
        scored = [s for s in seeds if choices[s]["validation_accuracy"]]
        fraction, ipc = key.split("/")
        out.setdefault(fraction, {})[ipc] = {
            "chosen": _summary({s: float(choices[s]["chosen"]) for s in seeds}),
            "validation_images": _summary({s: float(choices[s]["validation_images"]) for s in seeds}),
            "validation_accuracy": {
                f"{w:g}".replace(".", "_"): _summary({s: choices[s]["validation_accuracy"][i] for s in scored})
                for i, w in enumerate(grid)
                if scored
            },
        }
    return out


def guard_report(distilled: dict[str, Any], name: str, seeds: list[int]) -> dict[str, Any]:
    """How many syntheses were rerun at a lower step size, and which still diverged (named, never silent)."""
    runs, restarted, diverged = 0, 0, []
    for seed in seeds:
        for key, methods in distilled[f"{name}/{seed}"]["histories"].items():
            for method, history in methods.items():
                guard = history.get("guard")
                if guard is None:
                    continue
                runs += 1
                restarted += guard["restarts"] > 0
                if guard["diverged"]:
                    diverged.append(f"{method}/{key}/seed{seed}")
    return {"runs": runs, "restarted": restarted, "diverged": len(diverged), "diverged_runs": ", ".join(diverged)}


def evaluate_dkkt(
    networks: dict[str, Any],
    distilled: dict[str, Any],
    shapes: dict[str, Any],
    digits: dict[str, ImageSet],
    data: DataParams,
    datasets: PartialDatasets,
    runtime: RuntimeParams,
) -> tuple[dict[str, Any], plt.Figure, plt.Figure, plt.Figure]:
    """metrics.json (per method, fraction and ipc; DKKT gains; DM's loss) and the pictures."""
    apply_runtime(runtime.device, runtime.threads)
    protocol = EvalProtocol.model_validate(networks["protocol"])
    metrics: dict[str, Any] = {}
    grid_rows, bars, chance, curves = [], {}, {}, {}
    for name, partial in datasets.items():
        splits = load_splits(name, shapes, digits, data)
        chance[name] = _chance(splits.y_test, splits.num_classes)
        accuracies, dm_stats = {}, {}
        for seed in partial.seeds:
            entry = distilled[f"{name}/{seed}"]
            for key, methods in entry["sets"].items():
                for method in methods:
                    network = networks["networks"].get(f"{name}/{method}/{key}/{seed}")
                    accuracies[f"{method}/{key}/{seed}"] = (
                        score(load_network(network, protocol), splits.x_test, splits.y_test)
                        if network
                        else chance[name]
                    )
                for method in ("dm", "dm_dkkt", "dm_x2"):
                    history = entry["histories"][key][method]["dm"]
                    window = max(1, len(history) // 10)
                    start = methods["random" if method != "dm_x2" else "random_x2"]["images"]
                    dm_stats.setdefault(f"{method}/{key}", {})[seed] = {
                        "loss_start": sum(history[:window]) / window,
                        "loss_end": sum(history[-window:]) / window,
                        "pixel_change": float((methods[method]["images"] - start).abs().mean()),
                    }
        table = summarise(accuracies)
        nested: dict[str, Any] = {}
        for group, summary in table.items():
            method, fraction, ipc = group.split("/")
            nested.setdefault(method, {}).setdefault(fraction, {})[ipc] = summary
        keys = ordered({f"{f}/{i}" for f, by_ipc in nested.get("dm", {}).items() for i in by_ipc})
        gains = {}
        for key in keys:
            fraction, ipc = key.split("/")
            per_seed = {s: accuracies[f"dm_dkkt/{key}/{s}"] - accuracies[f"dm/{key}/{s}"] for s in partial.seeds}
            gains.setdefault(fraction, {})[ipc] = _summary(per_seed)
        smallest_ipc = min((int(k.split("/")[1]) for k in keys), default=None)
        at_ipc = [k for k in keys if int(k.split("/")[1]) == smallest_ipc]
        dm = {}
        for group, by_seed in dm_stats.items():
            method, fraction, ipc = group.split("/")
            dm.setdefault(method, {}).setdefault(fraction, {})[ipc] = {
                m: _summary({s: v[m] for s, v in by_seed.items()}) for m in ("loss_start", "loss_end", "pixel_change")
            }
        first = distilled[f"{name}/{partial.seeds[0]}"]
        metrics[name] = {
            "chance": chance[name],
            "visible_images": first["visible"],
            "methods": {m: nested[m] for m in (*METHODS, *sorted(set(nested) - set(METHODS))) if m in nested},
            "dkkt_minus_dm": gains,
            "gap_at_smallest_fraction": gains[at_ipc[0].split("/")[0]][str(smallest_ipc)] if at_ipc else None,
            "gap_at_largest_fraction": gains[at_ipc[-1].split("/")[0]][str(smallest_ipc)] if len(at_ipc) > 1 else None,
            "dm": dm,
            "weight_choice": weight_choices(distilled, name, partial.seeds),
            "guard": guard_report(distilled, name, partial.seeds),
        }
        if keys:
            key = keys[0]
            sets = first["sets"][key]
            ipc = int(key.split("/")[1])
            grid_rows.append(
                [
                    Panel(
                        f"{name} {key.replace('/', ', ipc ')}: {m}",
                        splits.to_pixels(sets[m]["images"]),
                        sets[m]["labels"],
                        splits.num_classes,
                        2 * ipc,
                    )
                    for m in ("random", "dm", "dm_dkkt", "dsv", "union", "dm_x2")
                ]
            )
            curves[f"{name}, seed {partial.seeds[0]}"] = {
                f"{m} {k}": first["histories"][k][m]["dm"] for k in keys for m in ("dm", "dm_dkkt")
            }
        bars[name] = {
            k.replace("/", "\n") + " ipc": {
                m: nested[m][k.split("/")[0]][k.split("/")[1]] for m in METHODS if m in nested
            }
            for k in keys
        }
    seeds = ", ".join(f"{n} {len(p.seeds)}" for n, p in datasets.items())
    m = networks["protocol"]["model"]
    metrics["scale"] = (
        f"mini world CPU: {', '.join(datasets)}; DM and evaluation {m['name']} w{m['width']} "
        f"({networks['protocol']['epochs']} epochs); whole-chain seeds: {seeds}"
    )
    return (
        metrics,
        mosaic_figure(grid_rows, "Distilled sets per class (rows) from the smallest visible fraction, first seed"),
        accuracy_bars_figure(
            bars, chance, "Distillation from partial data: test accuracy (mean ± sd over whole-chain seeds)"
        ),
        curves_figure(
            curves,
            "DM loss per iteration (a fresh network each iteration; moving average)",
            "iteration",
            "DM loss",
            smooth=10,
            log=True,
        ),
    )
