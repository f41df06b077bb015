"""``dkkt-train``: fresh evaluation networks on every distilled / selected set (dsv's evaluation protocol)."""

from __future__ import annotations

from revis.config.runtime import ComputeParams
from revis.distill.artifacts import DistilledChain
from revis.distill.chain import Chain
from revis.distill.config import EvalProtocol, protocol_for
from revis.distill.evaluation import EvaluationNetworks, train_networks
from revis.runtime import apply_runtime


def train_evaluation_networks(
    distilled: dict[str, DistilledChain], compute: ComputeParams, evaluation: EvalProtocol
) -> EvaluationNetworks:
    """``{"<dataset>/<method>/<fraction>/<ipc>/<seed>": network}``: a chain's seed also seeds its networks."""
    apply_runtime(compute.device, compute.threads)
    sets: dict[str, tuple] = {}
    for key, entry in distilled.items():
        chain = Chain.parse(key)
        shape = tuple(entry["shape"])
        for subset, methods in entry["sets"].items():
            for method, s in methods.items():
                sets[f"{chain.dataset}/{method}/{subset}/{chain.seed}"] = (s["images"], s["labels"], chain.seed, shape)
    networks = train_networks(  # the dataset's DSA ops (no flip on digits): revis.distill.config.protocol_for
        sets,
        lambda key: protocol_for(key.split("/")[0], evaluation),
        workers=compute.workers,
        desc="evaluation networks",
    )
    return EvaluationNetworks(protocol=evaluation.model_dump(), networks=networks)
