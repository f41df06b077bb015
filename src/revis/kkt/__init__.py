"""DeepKKT (Deep Support Vectors): the KKT conditions of a trained classifier, its multipliers, synthesis."""

from revis.kkt.deepkkt import (
    DeepKKT,
    KKTState,
    KKTWeights,
    Multipliers,
    distance,
    initial_multiplier,
    norm_prior,
    predictive_entropy,
    primal_loss,
    stationarity_loss,
    tv_prior,
)
from revis.kkt.gradients import (
    identifiable_parameters,
    per_sample_grads,
    per_sample_grads_loop,
    scale_invariant_parameters,
    weighted_loss_grad,
)
from revis.kkt.real import RealMultipliers, random_per_class, real_multipliers, top_lambda_per_class
from revis.kkt.synthesis import Synthesis, noise_candidates, synthesize
from revis.kkt.teacher import polish_to_stationarity, stationarity_report, teacher_network

__all__ = [
    "DeepKKT",
    "KKTState",
    "KKTWeights",
    "Multipliers",
    "RealMultipliers",
    "Synthesis",
    "distance",
    "identifiable_parameters",
    "initial_multiplier",
    "noise_candidates",
    "norm_prior",
    "per_sample_grads",
    "per_sample_grads_loop",
    "polish_to_stationarity",
    "predictive_entropy",
    "primal_loss",
    "random_per_class",
    "real_multipliers",
    "scale_invariant_parameters",
    "stationarity_loss",
    "stationarity_report",
    "synthesize",
    "teacher_network",
    "top_lambda_per_class",
    "tv_prior",
    "weighted_loss_grad",
]
