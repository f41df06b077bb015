"""metrics.json of distillation from partial data (dkkt), per dataset, as typed results.

Every number is a ``mean_std`` over the dataset's whole-chain seeds: test accuracy per method,
visible fraction and ipc (``methods``), DM + Deep-KKT minus DM per seed (``dkkt_minus_dm`` and
at the smallest ipc, the smallest and largest fraction), DM's loss and pixel change, the
Deep-KKT weight chosen per run on its validation split, and the divergence guard.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from revis.distill.evaluation import summarize
from revis.distill.guard import GuardReport
from revis.distill.partial import METHODS, ordered
from revis.reporting.summary import mean_std_by_seed

Summary = dict[str, Any]  # revis.reporting.summary.mean_std
ByFraction = dict[str, dict[str, Summary]]  # fraction -> ipc -> summary
DM_METHODS = ("dm", "dm_dkkt", "dm_x2")


@dataclass(frozen=True)
class PartialDatasetMetrics:
    """One dataset's section of dkkt's metrics.json."""

    chance: float
    visible_images: dict[str, int]
    methods: dict[str, ByFraction]
    dkkt_minus_dm: ByFraction
    gap_at_smallest_fraction: Summary | None
    gap_at_largest_fraction: Summary | None
    dm: dict[str, dict[str, dict[str, dict[str, Summary]]]]
    weight_choice: dict[str, dict[str, dict[str, Any]]]
    guard: GuardReport


def nest_by_method(table: Mapping[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """``"<method>/<fraction>/<ipc>" -> value`` into ``method -> fraction -> ipc -> value``."""
    nested: dict[str, dict[str, dict[str, Any]]] = {}
    for group, value in table.items():
        method, fraction, ipc = group.split("/")
        nested.setdefault(method, {}).setdefault(fraction, {})[ipc] = value
    return nested


def dm_run_stats(history: Sequence[float], images: Any, start: Any) -> dict[str, float]:
    """DM's loss over the first and last tenth of its iterations (at least one), and the mean pixel change."""
    window = max(1, len(history) // 10)
    return {
        "loss_start": sum(history[:window]) / window,
        "loss_end": sum(history[-window:]) / window,
        "pixel_change": float((images - start).abs().mean()),
    }


def dm_stats(distilled: Mapping[int, Mapping[str, Any]]) -> dict[str, dict[int, dict[str, float]]]:
    """``"<method>/<fraction>/<ipc>" -> seed -> dm_run_stats`` of every DM run (DM, DM + Deep-KKT, DM at 2·ipc)."""
    stats: dict[str, dict[int, dict[str, float]]] = {}
    for seed, entry in distilled.items():
        for key, methods in entry["sets"].items():
            for method in DM_METHODS:
                start = methods["random" if method != "dm_x2" else "random_x2"]["images"]
                history = entry["histories"][key][method]["dm"]
                stats.setdefault(f"{method}/{key}", {})[seed] = dm_run_stats(history, methods[method]["images"], start)
    return stats


def weight_choices(distilled: Mapping[int, Mapping[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per fraction and ipc: λ_dkkt chosen on each seed's validation split, each weight's validation accuracy
    (over the seeds whose trial at that weight was scored), and per seed how many trials were restarted by the
    guard (``restarted_trials``) and how many rose and were left out (``excluded_trials``, ``rising_trials: exclude``)."""
    seeds = list(distilled)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for key in ordered(distilled[seeds[0]]["histories"]):
        choices = {s: distilled[s]["histories"][key]["dm_dkkt"]["choice"] for s in seeds}
        grid = choices[seeds[0]]["grid"]
        accuracy = {
            f"{w:g}".replace(".", "_"): {
                s: c["validation_accuracy"][i]
                for s, c in choices.items()
                if c["validation_accuracy"] and c["validation_accuracy"][i] is not None
            }
            for i, w in enumerate(grid)
        }
        fraction, ipc = key.split("/")
        out.setdefault(fraction, {})[ipc] = {
            "chosen": mean_std_by_seed({s: float(choices[s]["chosen"]) for s in seeds}),
            "validation_images": mean_std_by_seed({s: float(choices[s]["validation_images"]) for s in seeds}),
            "validation_accuracy": {w: mean_std_by_seed(by_seed) for w, by_seed in accuracy.items() if by_seed},
            "excluded_trials": mean_std_by_seed({s: float(sum(c.get("excluded", []))) for s, c in choices.items()}),
            "restarted_trials": mean_std_by_seed(
                {s: float(sum(t["restarts"] > 0 for t in c.get("trials", []))) for s, c in choices.items()}
            ),
        }
    return out


def guard_report(distilled: Mapping[int, Mapping[str, Any]]) -> GuardReport:
    """How many syntheses were rerun at a lower step size, and which still diverged (named, never silent)."""
    runs, restarted, diverged = 0, 0, []
    for seed, entry in distilled.items():
        for key, methods in entry["histories"].items():
            for method, history in methods.items():
                guard = history.get("guard")
                if guard is None:
                    continue
                runs += 1
                restarted += guard["restarts"] > 0
                if guard["diverged"]:
                    diverged.append(f"{method}/{key}/seed{seed}")
    return GuardReport(runs, restarted, len(diverged), ", ".join(diverged))


def dkkt_gains(accuracies: Mapping[str, float], keys: Sequence[str], seeds: Sequence[int]) -> ByFraction:
    """DM + Deep-KKT minus DM per seed, ``fraction -> ipc -> mean_std``."""
    gains: ByFraction = {}
    for key in keys:
        fraction, ipc = key.split("/")
        per_seed = {s: accuracies[f"dm_dkkt/{key}/{s}"] - accuracies[f"dm/{key}/{s}"] for s in seeds}
        gains.setdefault(fraction, {})[ipc] = mean_std_by_seed(per_seed)
    return gains


def run_keys(methods: Mapping[str, ByFraction]) -> list[str]:
    """The ``<fraction>/<ipc>`` keys DM ran at, by ascending fraction, then ipc."""
    return ordered({f"{f}/{i}" for f, by_ipc in methods.get("dm", {}).items() for i in by_ipc})


def dataset_metrics(
    chance: float, accuracies: Mapping[str, float], distilled: Mapping[int, Mapping[str, Any]]
) -> PartialDatasetMetrics:
    """One dataset's metrics from its accuracies (``"<method>/<fraction>/<ipc>/<seed>"``) and its chains'
    distilled sets and histories (``{seed: dkkt.distilled entry}``)."""
    nested = nest_by_method(summarize(accuracies))
    keys = run_keys(nested)
    gains = dkkt_gains(accuracies, keys, list(distilled))
    smallest_ipc = min((int(k.split("/")[1]) for k in keys), default=None)
    at_ipc = [k for k in keys if int(k.split("/")[1]) == smallest_ipc]
    dm = {
        group: {
            m: mean_std_by_seed({s: v[m] for s, v in by_seed.items()})
            for m in ("loss_start", "loss_end", "pixel_change")
        }
        for group, by_seed in dm_stats(distilled).items()
    }
    first = next(iter(distilled.values()))
    return PartialDatasetMetrics(
        chance=chance,
        visible_images=first["visible"],
        methods={m: nested[m] for m in (*METHODS, *sorted(set(nested) - set(METHODS))) if m in nested},
        dkkt_minus_dm=gains,
        gap_at_smallest_fraction=gains[at_ipc[0].split("/")[0]][str(smallest_ipc)] if at_ipc else None,
        gap_at_largest_fraction=gains[at_ipc[-1].split("/")[0]][str(smallest_ipc)] if len(at_ipc) > 1 else None,
        dm=nest_by_method(dm),
        weight_choice=weight_choices(distilled),
        guard=guard_report(distilled),
    )
