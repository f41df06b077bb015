"""DeepKKT (Deep Support Vectors): the KKT conditions of a trained classifier, its multipliers, synthesis.

Names resolve lazily (PEP 562): the torch-free schemas in ``revis.kkt.config`` are imported
when params.yaml is validated, at every stage's start-up, and must not pull torch in.
"""

from importlib import import_module
from typing import Any

_WHERE = {
    "DeepKKT": "deepkkt",
    "KKTState": "deepkkt",
    "KKTWeights": "deepkkt",
    "Multipliers": "deepkkt",
    "RealMultipliers": "real",
    "Synthesis": "synthesis",
    "distance": "deepkkt",
    "identifiable_parameters": "gradients",
    "initial_multiplier": "deepkkt",
    "noise_candidates": "synthesis",
    "norm_prior": "deepkkt",
    "per_sample_grads": "gradients",
    "per_sample_grads_loop": "gradients",
    "polish_to_stationarity": "teacher",
    "predictive_entropy": "deepkkt",
    "primal_loss": "deepkkt",
    "random_per_class": "real",
    "real_multipliers": "real",
    "scale_invariant_parameters": "gradients",
    "stationarity_loss": "deepkkt",
    "stationarity_report": "teacher",
    "synthesize": "synthesis",
    "teacher_network": "teacher",
    "top_lambda_per_class": "real",
    "tv_prior": "deepkkt",
    "weighted_loss_grad": "gradients",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'revis.kkt' has no attribute {name!r}")
    return getattr(import_module(f"revis.kkt.{_WHERE[name]}"), name)
