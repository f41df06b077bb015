"""The metrics of the concept-pathway study (``reports/gig/metrics.json``), over the seeds.

Inputs are what the ``gig`` stages persist per seed, in seed order: the checkpoints
(``study.train_network``), the concepts (``study.attribute_chain``), the pathways
(``study.attribute_seed``) and the evaluations (``study.evaluate_seed``). Every measure is a sample
over the seeds (:func:`sample`: mean, sample sd, the values and their seeds), paired by seed;
a seed without a finite value is left out of that measure. The typed results are serialized by
``revis.reporting.results.to_json``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from revis.attribution.concepts import DECOMPOSITIONS
from revis.attribution.gig import GigResult
from revis.attribution.pathways import ORDERS
from revis.attribution.study import CLASS_DECOMPOSITIONS, pair_key, pairs
from revis.reporting.summary import mean_std, mean_std_by_seed

Sample = dict[str, Any]  # mean_std's summary: mean, std, n, values, seeds
Record = dict[str, Any]  # one seed's persisted checkpoint, concepts, pathway or evaluation
ALIGNMENT_KINDS = ("kmeans", "random")  # ground-truth alignment: k-means concepts against random directions
ALIGNMENT_MEASURES = ("mean_iou", "mean_pointing")
RECONSTRUCTION_MEASURES = ("error", "prediction_agreement")
INTER_LAYER_MEASURES = ("deletion", "insertion", "ins_minus_del")


@dataclass(frozen=True)
class ModelSummary:
    test_accuracy: Sample
    concepts_per_layer: dict[str, int]


@dataclass(frozen=True)
class Completeness:
    """GIG's relative completeness gap: per path at the default steps (and the average over the nonlinear
    paths), and that average per number of steps of the sweep (``m<steps>``)."""

    at_default_steps: dict[str, Sample]
    sweep_average: dict[str, Sample]


@dataclass(frozen=True)
class GigMetrics:
    """metrics.json of a gig run whose images have no concept masks (no ``alignment``)."""

    model: ModelSummary
    completeness: Completeness
    inter_layer: dict[str, Any]  # pair -> order -> ins_minus_del; average -> order -> measure; targets_measured
    concept_to_class: dict[str, dict[str, Sample]]  # layer (and average) -> decomposition
    reconstruction: dict[str, dict[str, Any]]  # layer -> decomposition -> measure; average -> decomposition
    scale: str


@dataclass(frozen=True)
class AlignedGigMetrics(GigMetrics):
    """metrics.json of a gig run on images with concept masks: ``alignment`` with the ground truth too."""

    alignment: dict[str, dict[str, dict[str, Sample]]]  # layer (and average) -> kind -> measure
    # layer (and average) -> gig / random / direct: precision@2 of the class pathways against the world's rules;
    # chance: the expected precision of a random ranking of the world's concepts
    pathway_rules: dict[str, Any] | None = None


def sample(by_seed: Mapping[int, float | None]) -> Sample:
    """mean_std over the seeds with a finite value (a seed without one is left out, with its seed)."""
    kept = {s: float(v) for s, v in by_seed.items() if v is not None and np.isfinite(v)}
    if not kept:
        return {"mean": None, "std": None, "n": 0, "values": [], "seeds": []}
    return mean_std_by_seed(kept)


def finite_mean(values: Sequence[float | None]) -> float | None:
    """The mean of the finite values (None without any)."""
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(finite)) if finite else None


def relative_gap(result: Mapping[str, torch.Tensor]) -> float:
    """GIG's relative completeness gap of a persisted result (``gig``, ``delta``, ``full``, ``zero``)."""
    return GigResult(result["gig"], result["delta"], result["full"], result["zero"]).relative_gap()


def _get(tree: Record, path: Sequence[Any]) -> Any:
    for key in path:
        tree = tree[key]
    return tree


@dataclass(frozen=True)
class _Seeds:
    """The per-seed records, paired by seed; every method samples one value per seed over them."""

    seeds: list[int]
    pathways: list[Record]
    evaluation: list[Record]

    def over(self, read: Callable[[Record, Record], float | None]) -> Sample:
        """``read(pathway, evaluation)`` per seed."""
        return sample({s: read(p, e) for s, p, e in zip(self.seeds, self.pathways, self.evaluation, strict=True)})

    def at(self, *path: Any) -> Sample:
        """The evaluation's value at ``path`` per seed."""
        return self.over(lambda _p, e: _get(e, path))

    def layer_mean(self, section: str, layers: Sequence[str], *path: Any) -> Sample:
        """Per seed the finite mean over ``layers`` of the evaluation's ``[section][layer][*path]``."""
        return self.over(lambda _p, e: finite_mean([_get(e, (section, a, *path)) for a in layers]))


def completeness(seeds: _Seeds, layers: list[str], steps_sweep: Sequence[int]) -> Completeness:
    """Completeness gaps per path; the last layer's head is affine (pooling + linear): GIG is exact there,
    so its gap is reported but not averaged."""
    pair_keys = [pair_key(a, b) for a, b in pairs(layers)]
    class_keys = [pair_key(a, "class") for a in layers]
    nonlinear = pair_keys + class_keys[:-1]
    gaps = {
        s: {
            **{key: relative_gap(p["pairs"][key]) for key in pair_keys},
            **{pair_key(a, "class"): relative_gap(p["to_class"]["kmeans"][a]) for a in layers},
        }
        for s, p in zip(seeds.seeds, seeds.pathways, strict=True)
    }

    def sweep_mean(m: int) -> Sample:
        return seeds.over(lambda p, _e: finite_mean([p["sweep"][k][m] for k in nonlinear]))

    return Completeness(
        at_default_steps={
            **{key: sample({s: gaps[s][key] for s in seeds.seeds}) for key in pair_keys + class_keys},
            "average": sample({s: finite_mean([gaps[s][k] for k in nonlinear]) for s in seeds.seeds}),
        },
        sweep_average={f"m{m}": sweep_mean(m) for m in steps_sweep},
    )


def inter_layer(seeds: _Seeds, layers: list[str]) -> dict[str, Any]:
    """Inter-layer deletion/insertion per concept order: per pair, averaged over the pairs, and the number
    of targets GIG was measured on per pair (over all seeds)."""
    pair_keys = [pair_key(a, b) for a, b in pairs(layers)]

    def measure(keys: list[str], order: str, name: str) -> Sample:
        def read(_p: Record, e: Record) -> float | None:
            summaries = [e["inter_layer"][k]["summary"] for k in keys]
            return finite_mean([sm[order][name] for sm in summaries if order in sm])

        return seeds.over(read)

    result: dict[str, Any] = {
        key: {o: {"ins_minus_del": measure([key], o, "ins_minus_del")} for o in ORDERS} for key in pair_keys
    }
    result["average"] = {o: {m: measure(pair_keys, o, m) for m in INTER_LAYER_MEASURES} for o in ORDERS}
    result["targets_measured"] = {
        key: int(sum(e["inter_layer"][key]["summary"].get("gig", {}).get("n_targets", 0) for e in seeds.evaluation))
        for key in pair_keys
    }
    return result


def concept_to_class(seeds: _Seeds, layers: list[str]) -> dict[str, dict[str, Sample]]:
    """C-insertion - C-deletion per layer and decomposition, and its mean over the layers."""
    result = {
        a: {kind: seeds.at("to_class", a, kind, "ins_minus_del") for kind in CLASS_DECOMPOSITIONS} for a in layers
    }
    result["average"] = {
        kind: seeds.layer_mean("to_class", layers, kind, "ins_minus_del") for kind in CLASS_DECOMPOSITIONS
    }
    return result


def reconstruction(seeds: _Seeds, layers: list[str]) -> dict[str, dict[str, Any]]:
    """Reconstruction error and prediction agreement per layer and decomposition; the error's mean over layers."""
    result: dict[str, dict[str, Any]] = {
        a: {
            kind: {m: seeds.at("reconstruction", a, kind, m) for m in RECONSTRUCTION_MEASURES}
            for kind in DECOMPOSITIONS
        }
        for a in layers
    }
    result["average"] = {kind: seeds.layer_mean("reconstruction", layers, kind, "error") for kind in DECOMPOSITIONS}
    return result


def alignment(seeds: _Seeds, layers: list[str]) -> dict[str, dict[str, dict[str, Sample]]]:
    """Gradient-ERF alignment with the ground-truth masks per layer and kind, and its mean over the layers."""
    result = {
        a: {kind: {m: seeds.at("alignment", a, kind, m) for m in ALIGNMENT_MEASURES} for kind in ALIGNMENT_KINDS}
        for a in layers
    }
    result["average"] = {
        kind: {m: seeds.layer_mean("alignment", layers, kind, m) for m in ALIGNMENT_MEASURES}
        for kind in ALIGNMENT_KINDS
    }
    return result


PATHWAY_KINDS = ("gig", "random", "direct")


def pathway_rules(seeds: _Seeds, layers: list[str], chance: float) -> dict[str, Any]:
    """Rule recovery of the class pathways per layer and kind, its mean over the layers, and chance."""
    result: dict[str, Any] = {a: {kind: seeds.at("pathway_rules", a, kind) for kind in PATHWAY_KINDS} for a in layers}
    result["average"] = {kind: seeds.layer_mean("pathway_rules", layers, kind) for kind in PATHWAY_KINDS}
    result["chance"] = chance
    return result


def scale_line(
    models: list[Record], pathways: list[Record], concepts_per_layer: dict[str, int], n_steps: int, method: str
) -> str:
    """What the run measured, in words (metrics.json's ``scale``)."""
    first = models[0]["model"]
    arch = (
        f"{first['name']} w{first['width']} d{first['depth']} {first['norm']}"
        if first["name"] == "convnet"
        else first["name"]
    )
    ks = sorted(set(concepts_per_layer.values()))
    where = "mini world CPU: shapes" if models[0].get("source", "shapes") == "shapes" else "ImageNet-format folder"
    layers = pathways[0]["layers"]
    return (
        f"{where}; {arch}; {len(models)} seeds (network, PFVs, concepts, test subset); {len(layers)} layers, "
        f"k={'/'.join(map(str, ks))} concepts per layer; GIG on {len(pathways[0]['classes'])} test images per seed, "
        f"m={n_steps} {method}"
    )


def summarize_pathways(
    models: list[Record],
    concepts: list[Record],
    pathways: list[Record],
    evaluation: list[Record],
    *,
    steps_sweep: Sequence[int],
    n_steps: int,
    method: str,
    rule_chance: float | None = None,
) -> GigMetrics:
    """metrics.json: every measure as mean and sample sd over the seeds (values kept, paired by seed);
    ``alignment`` when every seed's images had concept masks, and ``pathway_rules`` when they were scored
    against the world's rules (``rule_chance``: a random ranking's expected precision)."""
    seeds = _Seeds([int(m["seed"]) for m in models], pathways, evaluation)
    layers = pathways[0]["layers"]
    concepts_per_layer = {a: len(concepts[0]["bases"][a]["kmeans"]["vectors"]) for a in layers}
    fields: dict[str, Any] = {
        "model": ModelSummary(mean_std([m["test_accuracy"] for m in models], seeds.seeds), concepts_per_layer),
        "completeness": completeness(seeds, layers, steps_sweep),
        "inter_layer": inter_layer(seeds, layers),
        "concept_to_class": concept_to_class(seeds, layers),
        "reconstruction": reconstruction(seeds, layers),
        "scale": scale_line(models, pathways, concepts_per_layer, n_steps, method),
    }
    if all(e["alignment"] is not None for e in evaluation):
        rules = None
        if rule_chance is not None and all("pathway_rules" in e for e in evaluation):
            rules = pathway_rules(seeds, layers, rule_chance)
        return AlignedGigMetrics(**fields, alignment=alignment(seeds, layers), pathway_rules=rules)
    return GigMetrics(**fields)
