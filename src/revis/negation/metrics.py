"""``reports/whitebear/metrics.json``: the judge, the representations, the attack and its defenses, the
cross-attention and the negation ablation, built from the evaluation's intermediate results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from revis.negation.attack import PairCounts
from revis.negation.prompts import DEFENSES, KINDS
from revis.reporting.summary import mean_std, proportion

POINTS = 100.0


@dataclass(frozen=True)
class WhitebearMetrics:
    scale: str
    judge: dict[str, Any]
    representations: dict[str, Any]
    attack: dict[str, Any]
    attention: dict[str, Any]
    ablation: dict[str, dict[str, dict[str, Any]]]  # pooled over pairs and seeds (the picture)
    ablation_per_seed: dict[str, dict[str, dict[str, Any]]]  # per whole-chain seed: its own fine-tuned pair (the claim)


def pooled(by_pair: PairCounts, field: str = "x") -> dict[str, Any]:
    """``proportion`` of ``field`` over every pair and seed."""
    hits = sum(c[field] for seeds in by_pair.values() for c in seeds.values())
    trials = sum(c["n"] for seeds in by_pair.values() for c in seeds.values())
    return proportion(hits, trials)


def per_seed(by_pair: PairCounts, seeds: Sequence[int], field: str = "x") -> dict[str, Any]:
    """``mean_std`` over seeds of the rate of ``field`` pooled over pairs."""
    rates = [
        sum(by_pair[p][str(s)].get(field, 0) for p in by_pair) / sum(by_pair[p][str(s)]["n"] for p in by_pair)
        for s in seeds
    ]
    return mean_std(rates, seeds)


def judge_metrics(accuracy: Mapping[str, dict[str, Any]], objects: Sequence[str]) -> dict[str, Any]:
    """The judge's held-out accuracy (clean, degraded) without per-object rates, and those of ``objects``."""
    out: dict[str, Any] = {name: {k: v for k, v in acc.items() if k != "per_object"} for name, acc in accuracy.items()}
    out["objects"] = {o: accuracy["clean"]["per_object"][o] for o in objects}
    return out


def defenses(rates: Mapping[str, dict[str, Any]], word_fidelity: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """Each defense against the attack: the change of X's rate (points, relative) and the cost in word fidelity."""
    attack = rates["attack"]["rate"]
    return {
        kind: {
            "change_points": POINTS * (rates[kind]["rate"] - attack),
            # relative to the attack's own rate (a defense that removes 10 points of a 12 % attack is large)
            "relative_change": (rates[kind]["rate"] - attack) / max(attack, 1e-9),
            "fidelity_cost_points": POINTS * (word_fidelity["attack"]["rate"] - word_fidelity[kind]["rate"]),
        }
        for kind in DEFENSES
        if kind in rates
    }


def attack_metrics(counts: Mapping[str, PairCounts], seeds: Sequence[int]) -> dict[str, Any]:
    """Rates of X per prompt kind (pooled, per pair, per seed; X's colour and shape separately), word fidelity,
    the alternative found, the defenses."""
    kinds = [k for k in KINDS if k in counts]
    rates = {kind: pooled(counts[kind]) for kind in kinds}
    word_fidelity = {kind: pooled(counts[kind], "word") for kind in kinds}
    return {
        "rates": rates,
        "colour_rates": {kind: pooled(counts[kind], "colour") for kind in kinds},
        "shape_rates": {kind: pooled(counts[kind], "shape") for kind in kinds},
        "per_pair": {pair: {kind: pooled({pair: counts[kind][pair]}) for kind in kinds} for pair in counts["attack"]},
        "per_seed": {kind: per_seed(counts[kind], seeds) for kind in kinds},
        # X's colour and X's shape found separately (any object of that colour / shape), per seed
        "per_seed_colour": {kind: per_seed(counts[kind], seeds, "colour") for kind in kinds},
        "per_seed_shape": {kind: per_seed(counts[kind], seeds, "shape") for kind in kinds},
        "word_fidelity": word_fidelity,
        "alternative_found": pooled(counts["alternative"], "alternative") if "alternative" in counts else None,
        "defenses": defenses(rates, word_fidelity),
    }


def representation_metrics(table: Mapping[str, Any]) -> dict[str, Any]:
    """Pooled cosine similarities of "S without X" with "S with X", "S" and the neutral edit; per-token ones."""
    pooled_with = np.asarray(table["pooled_with"]).ravel()
    pooled_alone = np.asarray(table["pooled_alone"]).ravel()
    pooled_neutral = np.asarray(table["pooled_neutral"]).ravel()
    items = list(range(len(pooled_with)))
    token = {k: np.asarray(table[f"token_{k}"]).ravel() for k in ("same", "context", "other")}
    return {
        "pooled": {
            "with": mean_std(pooled_with.tolist(), items),
            "alone": mean_std(pooled_alone.tolist(), items),
            "neutral": mean_std(pooled_neutral.tolist(), items),
        },
        "token": {k: mean_std(v.tolist(), items) for k, v in token.items()},
        "items": len(items),
    }


def attention_metrics(pairs: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """Mean cross-attention share per token group; the object tokens' mean density on the drawn object."""
    shares = {
        name: float(np.mean([v for pair in pairs.values() for v in pair["shares"][name]]))
        for name in ("word", "without", "object")
    }
    on_drawn = [v for pair in pairs.values() for v in pair["object_on_drawn"] if v is not None]
    return {
        "share": shares,
        "object_on_drawn": {"mean": float(np.mean(on_drawn)) if on_drawn else None, "images": len(on_drawn)},
    }


def whitebear_metrics(
    *,
    representations: Mapping[str, Any],
    counts: Mapping[str, PairCounts],
    attention_pairs: Mapping[str, dict[str, Any]],
    ablation_counts: Mapping[str, Mapping[str, PairCounts]],
    judge: dict[str, Any],
    seeds: Sequence[int],
    n_pairs: int,
    images_per_prompt: int,
    ablation_steps: Any,
) -> WhitebearMetrics:
    scale = (
        f"the t2i model of this project (small UNet trained here on the 16 px caption world); "
        f"{len(seeds)} whole-chain seeds (seed s: the model trained with seed s, sampled with seed s, the "
        f"same noise for every prompt); {n_pairs} word/object pairs, {images_per_prompt} images per prompt and "
        f"seed; judge = the world's segmenter + blob classifier; ablation: one fine-tuning pair per whole-chain seed "
        f"(seed s: {ablation_steps} steps per arm from the t2i model trained with seed s, sampled with seed s)"
    )
    return WhitebearMetrics(
        scale=scale,
        judge=judge,
        representations=representation_metrics(representations),
        attack=attack_metrics(counts, seeds),
        attention=attention_metrics(attention_pairs),
        ablation={
            arm: {kind: pooled(by_pair) for kind, by_pair in by_kind.items()}
            for arm, by_kind in ablation_counts.items()
        },
        ablation_per_seed={
            arm: {kind: per_seed(by_pair, seeds) for kind, by_pair in by_kind.items()}
            for arm, by_kind in ablation_counts.items()
        },
    )
