"""``dkkt-train``: fresh evaluation networks on every distilled / selected set (dsv's evaluation protocol)."""

from __future__ import annotations

from typing import Any

from revis.distill.config import EvalProtocol, RuntimeParams, protocol_for
from revis.distill.evaluation import train_networks
from revis.runtime import apply_runtime


def train_evaluation_networks(
    distilled: dict[str, Any], runtime: RuntimeParams, evaluation: EvalProtocol
) -> dict[str, Any]:
    """``{"<dataset>/<method>/<fraction>/<ipc>/<seed>": network}``: a chain's seed also seeds its networks."""
    apply_runtime(runtime.device, runtime.threads)
    sets: dict[str, tuple] = {}
    for chain, entry in distilled.items():
        name, seed = chain.split("/")
        shape = tuple(entry["shape"])
        for key, methods in entry["sets"].items():
            for method, s in methods.items():
                sets[f"{name}/{method}/{key}/{seed}"] = (s["images"], s["labels"], int(seed), shape)
    networks = train_networks(  # the dataset's DSA ops (no flip on digits): revis.distill.config.protocol_for
        sets,
        lambda key: protocol_for(key.split("/")[0], evaluation),
        workers=runtime.workers,
        desc="evaluation networks",
    )
    return {"protocol": evaluation.model_dump(), "networks": networks}
