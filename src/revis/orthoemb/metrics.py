"""``reports/orthoemb/metrics.json``: per arm the judged rates over seeds and pooled, the references, the
projection's orthogonality residuals, each fix's pixel change from the no-fix arm, the encoders' final loss."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from revis.reporting.summary import mean_std, proportion

MEASURES = ("identity", "colour_shape", "leakage", "compliance", "fidelity")


@dataclass(frozen=True)
class OrthoembMetrics:
    scale: str
    arms: dict[str, dict[str, Any]]
    pooled: dict[str, dict[str, Any]]
    references: dict[str, dict[str, Any]]
    orthogonality: dict[str, float]
    change_from_visual: dict[str, dict[str, Any]]
    training: dict[str, dict[str, Any]]


def arm_rates(
    per_seed: Mapping[str, Mapping[str, Any]], name: str, seeds: Sequence[int]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(per measure ``mean_std`` over seeds, and the ``tradeoff`` identity - leakage; per measure ``proportion``
    pooled over seeds) of arm ``name``; fidelity counts only the cases with a second object."""
    over_seeds: dict[str, Any] = {}
    pooled: dict[str, Any] = {}
    for measure in (*MEASURES, "tradeoff"):
        values, hits, trials = [], 0, 0
        for s in seeds:
            sc = {k: np.asarray(v) for k, v in per_seed[str(s)]["scores"][name].items()}
            if measure == "tradeoff":
                values.append(float(sc["identity"].mean() - sc["leakage"].mean()))
                continue
            rows = sc["has_other"] if measure == "fidelity" else np.ones(len(sc["identity"]), dtype=bool)
            values.append(float(sc[measure][rows].mean()))
            hits, trials = hits + int(sc[measure][rows].sum()), trials + int(rows.sum())
        over_seeds[measure] = mean_std(values, seeds)
        if measure != "tradeoff":
            pooled[measure] = proportion(hits, trials)
    return over_seeds, pooled


def reference_rates(per_seed: Mapping[str, Mapping[str, Any]], seeds: Sequence[int]) -> dict[str, dict[str, Any]]:
    """Identity and leakage judged on the references themselves, pooled over seeds."""
    refs = {"identity": [0, 0], "leakage": [0, 0]}
    for s in seeds:
        r = per_seed[str(s)]["references"]
        for k in refs:
            refs[k][0] += int(np.sum(r[k]))
            refs[k][1] += len(r[k])
    return {k: proportion(*v) for k, v in refs.items()}


def change_over_seeds(per_seed: Mapping[str, Mapping[str, Any]], seeds: Sequence[int]) -> dict[str, dict[str, Any]]:
    """``mean_std`` over seeds of each fix's pixel change from the no-fix arm (the fixes every seed measured)."""
    changes = [per_seed[str(s)].get("change_from_visual", {}) for s in seeds]
    return {name: mean_std([c[name] for c in changes], seeds) for name in changes[0] if all(name in c for c in changes)}


def orthoemb_metrics(
    results: Mapping[str, Any],
    losses: Mapping[str, list[float]],
    arms: Sequence[str],
    scale: str,
) -> OrthoembMetrics:
    """metrics.json from the evaluation's results (``revis.orthoemb.evaluation.evaluate_arms``) and the loss curves."""
    per_seed = results["per_seed"]
    seeds = [int(s) for s in per_seed]
    rates = {name: arm_rates(per_seed, name, seeds) for name in arms}
    final = [float(np.mean(losses[str(s)][-20:])) for s in seeds]
    return OrthoembMetrics(
        scale=scale,
        arms={name: over_seeds for name, (over_seeds, _) in rates.items()},
        pooled={name: pooled for name, (_, pooled) in rates.items()},
        references=reference_rates(per_seed, seeds),
        orthogonality={k: float(v) for k, v in results["residual"].items()},
        change_from_visual=change_over_seeds(per_seed, seeds),
        training={"final_loss": mean_std(final, seeds)},
    )


def scale_note(
    seeds: int,
    steps: int,
    batch_size: int,
    n_references: int,
    tokens: int,
    n_cases: int,
    sampler_steps: int,
    guidance: float,
) -> str:
    """What was measured (metrics.json's ``scale``)."""
    return (
        f"caption world 16 px subjects (24 identities = colour x shape x texture), the t2i model of this project "
        f"frozen; {seeds} whole-chain seeds (subject-encoder training data, initialisation and batches; "
        f"evaluation references and noise), {steps} encoder steps of batch {batch_size} on "
        f"{n_references} references, k = {tokens} visual tokens; {n_cases} pose-changing prompts per arm "
        f"and seed ({n_cases * seeds} images per arm), {sampler_steps} sampler steps, guidance "
        f"{guidance}; judged by the world's judge"
    )
