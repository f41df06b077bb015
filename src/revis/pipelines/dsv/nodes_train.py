"""``dsv-train``: fresh evaluation networks on every real subset and DSV set (the distillation protocol)."""

from __future__ import annotations

from typing import Any

from revis.config.runtime import ComputeParams
from revis.datasets.imageset import ImageSet
from revis.distill.chain import Chain
from revis.distill.config import EvalProtocol, protocol_for
from revis.distill.data import DataParams, load_splits
from revis.distill.evaluation import EvaluationNetworks, train_networks
from revis.kkt.artifacts import ChainSubsets, SynthesisRecord
from revis.runtime import apply_runtime


def train_evaluation_networks(
    subsets: dict[str, ChainSubsets],
    dsvs: dict[str, dict[str, SynthesisRecord]],
    shapes: dict[str, Any],
    digits: dict[str, ImageSet],
    seeds: dict[str, list[int]],
    data: DataParams,
    compute: ComputeParams,
    evaluation: EvalProtocol,
) -> EvaluationNetworks:
    """``{"<dataset>/<kind>/<size>/<seed>": network}``: a chain's seed also seeds its evaluation network."""
    apply_runtime(compute.device, compute.threads)
    sets: dict[str, tuple] = {}
    for name, listed in seeds.items():
        splits = load_splits(name, shapes, digits, data)
        for seed in listed:
            chain = str(Chain(name, seed))
            for kind, by_size in subsets[chain].items():
                for k, index in by_size.items():
                    sets[f"{name}/{kind}/{k}/{seed}"] = (
                        splits.x_train[index],
                        splits.y_train[index],
                        seed,
                        splits.shape,
                    )
            for key, entry in dsvs[chain].items():
                sets[f"{name}/{key}/{seed}"] = (entry["images"], entry["labels"], seed, splits.shape)
    networks = train_networks(  # the dataset's DSA ops (no flip on digits): revis.distill.config.protocol_for
        sets,
        lambda key: protocol_for(key.split("/")[0], evaluation),
        workers=compute.workers,
        desc="evaluation networks",
    )
    return EvaluationNetworks(protocol=evaluation.model_dump(), networks=networks)
