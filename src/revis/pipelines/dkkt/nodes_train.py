"""``dkkt-train``: fresh evaluation networks on every distilled / selected set (dsv's evaluation protocol)."""

from __future__ import annotations

from revis.config.runtime import ComputeParams
from revis.distill.artifacts import DistilledChain
from revis.distill.chain import Chain
from revis.distill.config import EvalProtocol, protocol_for
from revis.distill.evaluation import EvaluationNetworks, replicate_key, replicate_seed, train_networks
from revis.runtime import apply_runtime


def train_evaluation_networks(
    distilled: dict[str, DistilledChain],
    compute: ComputeParams,
    evaluation: EvalProtocol,
    networks_per_set: dict[str, int],
) -> EvaluationNetworks:
    """``{"<dataset>/<method>/<fraction>/<ipc>/<seed>": network}`` (``~<r>`` replicates where the dataset has
    more than one network per set): a chain's seed also seeds its first network."""
    apply_runtime(compute.device, compute.threads)
    sets: dict[str, tuple] = {}
    for key, entry in distilled.items():
        chain = Chain.parse(key)
        shape = tuple(entry["shape"])
        for subset, methods in entry["sets"].items():
            for method, s in methods.items():
                for r in range(networks_per_set.get(chain.dataset, 1)):
                    item = (s["images"], s["labels"], replicate_seed(chain.seed, r), shape)
                    sets[replicate_key(f"{chain.dataset}/{method}/{subset}/{chain.seed}", r)] = item
    networks = train_networks(  # the dataset's DSA ops (no flip on digits): revis.distill.config.protocol_for
        sets,
        lambda key: protocol_for(key.split("/")[0], evaluation),
        workers=compute.workers,
        desc="evaluation networks",
    )
    return EvaluationNetworks(protocol=evaluation.model_dump(), networks=networks)
