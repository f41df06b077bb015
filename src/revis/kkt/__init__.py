"""DeepKKT (Deep Support Vectors): the KKT conditions of a trained classifier, its multipliers, synthesis.

Names resolve lazily (PEP 562): the torch-free schemas in ``revis.kkt.config`` are imported
when params.yaml is validated, at every stage's start-up, and must not pull torch in.
"""

from revis.lazy import lazy_getattr

_WHERE = {
    "DeepKKT": "deepkkt",
    "KKTState": "deepkkt",
    "balanced_multiplier": "deepkkt",
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

__getattr__ = lazy_getattr(__name__, _WHERE)
